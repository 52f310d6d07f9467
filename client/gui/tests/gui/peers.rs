//! The other side of the conversation: a real server in this process (on
//! 127.0.0.1, port 0, in the test's directory) and users on the client
//! library: carol, who chats and watches presence, and another device of
//! alice's that reads what the server stored.

use std::path::Path;

use natter_client::{Client, ClientConfig, ClientEvent, Events, FirstUse, Trust};
use natter_common::{ChatMessage, Conversation, Fingerprint, UserName};
use natter_server::{Config, Server};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{PASSWORD, PATIENCE};

/// The server, running on the test's runtime until stopped.
pub struct TestServer {
    /// Its address, as the login form takes it.
    pub addr: String,
    pub fingerprint: Fingerprint,
    /// Client settings for the library users.
    pub library: ClientConfig,
    stop: oneshot::Sender<()>,
    /// The server's run, ending with its error (with its causes) if any.
    task: JoinHandle<Result<(), String>>,
}

impl TestServer {
    /// Binds a server on port 0 with its store under `work`, and starts it.
    pub fn start(runtime: &Runtime, work: &Path) -> Self {
        let server_dir = work.join("server");
        let (endpoint, stop, task) = runtime.block_on(async {
            let config = Config::new("127.0.0.1:0".parse().unwrap(), &server_dir);
            let server = Server::bind(config).await.expect("server binds");
            let endpoint = server.endpoint();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                server.run(shutdown).await.map_err(|e| format!("{e:#}"))
            });
            (endpoint, stop, task)
        });
        let addr = endpoint.addr.to_string();
        let library = library_config(&addr, endpoint.fingerprint, work);
        Self {
            addr,
            fingerprint: endpoint.fingerprint,
            library,
            stop,
            task,
        }
    }

    /// Makes alice's and carol's accounts, and logs carol in.
    pub fn accounts_and_carol(&self, runtime: &Runtime) -> (Client, Events) {
        runtime.block_on(async {
            for name in ["alice", "carol"] {
                natter_client::register(&self.library, name, PASSWORD)
                    .await
                    .expect("register");
            }
            Client::login(self.library.clone(), "carol", PASSWORD)
                .await
                .expect("carol logs in")
        })
    }

    /// The group's and the private conversation with bob's history, as
    /// another device of alice's reads them from the server.
    pub fn alice_history(&self, runtime: &Runtime) -> (Vec<ChatMessage>, Vec<ChatMessage>) {
        runtime.block_on(async {
            let (device, _events) = Client::login(self.library.clone(), "alice", PASSWORD)
                .await
                .expect("alice logs in on another device");
            let group = device
                .history(Conversation::Group, None, 100)
                .await
                .expect("group history")
                .messages;
            let bob = UserName::parse("bob").expect("user name");
            let private = device
                .history(Conversation::With(bob), None, 100)
                .await
                .expect("private history")
                .messages;
            device.logout().await.expect("logout");
            (group, private)
        })
    }

    /// Stops the server and waits until it has.
    pub fn stop(self, runtime: &Runtime) {
        let _ = self.stop.send(());
        runtime
            .block_on(self.task)
            .expect("server task")
            .expect("server ran");
    }
}

/// Client settings for the library users (carol, alice's other device).
fn library_config(server: &str, fingerprint: Fingerprint, work: &Path) -> ClientConfig {
    ClientConfig::new(
        server,
        Trust {
            known_servers: work.join("library-known-servers"),
            pinned: Some(fingerprint),
            first_use: FirstUse::Refuse,
        },
    )
}

/// Waits until `events` report that `name` left.
pub async fn left(events: &mut Events, name: &str) {
    let wait = async {
        while let Some(event) = events.next().await {
            if matches!(&event, ClientEvent::Left(u) if u.as_str() == name) {
                return;
            }
        }
        panic!("carol's events ended before {name} left");
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("the server never said {name} left"));
}
