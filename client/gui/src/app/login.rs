//! Logging in: the form (log in or create an account), the prompt that
//! asks whether to trust a server seen for the first time, a changed
//! certificate refused out loud, and the offer to host a server here when
//! nothing answers at a local address.

use std::net::SocketAddr;

use natter_client::ClientError;
use natter_common::limits::MIN_PASSWORD_CHARS;
use natter_common::{Fingerprint, Refusal, UserName};

use crate::app::intent::{Edit, Field, Intent};
use crate::app::link::{Command, LoginAttempt};
use crate::app::text::TextBuffer;
use crate::app::truncate_for_display;

/// The address the login form starts with, and where "Host a server here"
/// listens.
pub const DEFAULT_SERVER: &str = "127.0.0.1:4433";
/// Port of the embedded server.
pub const HOST_PORT: u16 = 4433;

/// Which full screen is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Login,
    Register,
    Chat,
}

/// The login and account creation form.
#[derive(Debug, Clone, Default)]
pub struct LoginForm {
    pub server: TextBuffer,
    pub name: TextBuffer,
    pub password: TextBuffer,
    pub confirm: TextBuffer,
    pub focus: Option<Field>,
    /// A login or registration is on its way.
    pub busy: bool,
    pub error: Option<FormError>,
    /// Nothing answered at a local address: offer to host a server here.
    pub offer_host: bool,
}

/// Why the form could not log in, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// A plain sentence shown under the form.
    Message(String),
    /// Not an error: what to do next (shown calmer).
    Hint(String),
    /// The server's certificate is not the one recorded: shown loud, never
    /// accepted silently.
    CertificateChanged {
        server: String,
        known: Fingerprint,
        presented: Fingerprint,
    },
}

/// A server seen for the first time: its fingerprint waits for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustPrompt {
    pub server: String,
    pub fingerprint: Fingerprint,
}

/// The server this process runs for others, once started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosting {
    /// Addresses others can type to join (LAN address first).
    pub join_addresses: Vec<String>,
    pub fingerprint: Fingerprint,
}

/// Everything about getting logged in, and the server hosted here (which
/// outlives a logout).
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub form: LoginForm,
    pub trust_prompt: Option<TrustPrompt>,
    pub hosting: Option<Hosting>,
    pub host_starting: bool,
    /// The login waiting for the prompt or the embedded server.
    pub pending_attempt: Option<LoginAttempt>,
}

impl Login {
    /// The form prefilled, the caret where typing should go on.
    pub fn new(server: &str, name: &str, password: &str) -> Self {
        let form = LoginForm {
            server: TextBuffer::new(server),
            name: TextBuffer::new(name),
            password: TextBuffer::new(password),
            focus: Some(if name.is_empty() {
                Field::Name
            } else {
                Field::Password
            }),
            ..LoginForm::default()
        };
        Self {
            form,
            ..Self::default()
        }
    }

    /// A fresh form after a logout: the server, the name and the hosted
    /// server stay, the password goes.
    pub fn after_logout(&mut self) -> Self {
        let form = LoginForm {
            server: self.form.server.clone(),
            name: self.form.name.clone(),
            focus: Some(Field::Password),
            ..LoginForm::default()
        };
        Self {
            form,
            hosting: self.hosting.take(),
            ..Self::default()
        }
    }

    /// Something is on its way (a login, the embedded server).
    pub fn busy(&self) -> bool {
        self.form.busy || self.host_starting
    }

    // ---- what the network reports ------------------------------------

    /// Logged in: the form forgets the passwords.
    pub fn logged_in(&mut self) {
        self.form.busy = false;
        self.form.error = None;
        self.form.offer_host = false;
        self.form.password.edit(&Edit::Clear, 0);
        self.form.confirm.edit(&Edit::Clear, 0);
        self.pending_attempt = None;
        self.trust_prompt = None;
    }

    /// The embedded server runs: the waiting login goes to it, trusting
    /// its certificate.
    pub fn hosted(&mut self, hosting: Hosting) -> Vec<Command> {
        self.host_starting = false;
        self.form.offer_host = false;
        self.form.error = None;
        self.form.server = TextBuffer::new(DEFAULT_SERVER);
        let fingerprint = hosting.fingerprint;
        self.hosting = Some(hosting);
        let Some(mut attempt) = self.pending_attempt.take() else {
            return Vec::new();
        };
        attempt.server = DEFAULT_SERVER.to_owned();
        attempt.pinned = Some(fingerprint);
        attempt.accept_first_use = true;
        self.form.busy = true;
        self.pending_attempt = Some(attempt.clone());
        vec![Command::Login(attempt)]
    }

    pub fn host_failed(&mut self, reason: String) {
        self.host_starting = false;
        self.form.busy = false;
        self.form.error = Some(FormError::Message(format!(
            "Could not start a server here: {reason}"
        )));
    }

    /// A login failed: a prompt, a hint, or a sentence under the form.
    pub fn failed(&mut self, error: ClientError, screen: &mut Screen) {
        self.form.busy = false;
        self.form.error = match error {
            ClientError::UnknownServer {
                server,
                fingerprint,
            } => {
                self.trust_prompt = Some(TrustPrompt {
                    server,
                    fingerprint,
                });
                None
            }
            ClientError::Unreachable { server, reason } => {
                self.form.offer_host = self.attempt_was_local() && self.hosting.is_none();
                message(format!("Nothing answers at {server} ({reason})."))
            }
            ClientError::Refused(Refusal::UnknownUser(name)) => self.unknown_user(&name, screen),
            other => Some(form_error(other)),
        };
        if self.trust_prompt.is_none() {
            self.pending_attempt = None;
        }
    }

    fn attempt_was_local(&self) -> bool {
        self.pending_attempt
            .as_ref()
            .is_some_and(|a| is_local_address(&a.server))
    }

    /// No such account: on our own new server, creating it is the next
    /// step; elsewhere, say so.
    fn unknown_user(&mut self, name: &str, screen: &mut Screen) -> Option<FormError> {
        let name = truncate_for_display(name, 32);
        if self.hosting.is_some() && self.attempt_was_local() {
            *screen = Screen::Register;
            self.form.focus = Some(Field::Confirm);
            return Some(FormError::Hint(format!(
                "This server is new: type the password again to create the account \"{name}\"."
            )));
        }
        message(format!(
            "No account is called \"{name}\" on this server. Create it with \"Create one\" above."
        ))
    }

    // ---- what the user asks -----------------------------------------

    /// Carries out the intents of the login screens (others change
    /// nothing).
    pub fn handle(&mut self, intent: Intent, screen: &mut Screen) -> Vec<Command> {
        match intent {
            Intent::Focus(field) => self.form.focus = Some(field),
            Intent::Edit { field, edit } => self.edit(field, &edit),
            Intent::ShowRegister => {
                *screen = Screen::Register;
                self.form.error = None;
                self.form.focus = Some(self.first_empty_field());
            }
            Intent::ShowLogin => {
                *screen = Screen::Login;
                self.form.error = None;
            }
            Intent::Login => return self.submit(false),
            Intent::Register => return self.submit(true),
            Intent::AcceptFingerprint => return self.accept_fingerprint(),
            Intent::RejectFingerprint => {
                self.trust_prompt = None;
                self.pending_attempt = None;
            }
            Intent::HostLocally => return self.host(*screen == Screen::Register),
            _ => {}
        }
        Vec::new()
    }

    fn first_empty_field(&self) -> Field {
        if self.form.name.text.is_empty() {
            Field::Name
        } else if self.form.password.text.is_empty() {
            Field::Password
        } else {
            Field::Confirm
        }
    }

    fn edit(&mut self, field: Field, edit: &Edit) {
        let (buffer, max) = match field {
            Field::Server => (&mut self.form.server, 255),
            Field::Name => (&mut self.form.name, 64),
            Field::Password => (&mut self.form.password, 1024),
            Field::Confirm => (&mut self.form.confirm, 1024),
            Field::Composer | Field::SharePath => return,
        };
        buffer.edit(edit, max);
        // Typing again answers a complaint about what was typed.
        if let Some(FormError::Message(_) | FormError::Hint(_)) = self.form.error {
            self.form.error = None;
        }
    }

    fn accept_fingerprint(&mut self) -> Vec<Command> {
        let (Some(prompt), Some(mut attempt)) =
            (self.trust_prompt.take(), self.pending_attempt.clone())
        else {
            return Vec::new();
        };
        attempt.pinned = Some(prompt.fingerprint);
        attempt.accept_first_use = true;
        self.form.busy = true;
        vec![Command::Login(attempt)]
    }

    fn host(&mut self, register: bool) -> Vec<Command> {
        if self.hosting.is_some() || self.host_starting {
            return Vec::new();
        }
        self.host_starting = true;
        self.form.offer_host = false;
        self.form.error = None;
        if self.pending_attempt.is_none() {
            self.pending_attempt = self.attempt(register).ok();
        }
        let listen = SocketAddr::from(([0, 0, 0, 0], HOST_PORT));
        vec![Command::Host { listen }]
    }

    fn submit(&mut self, register: bool) -> Vec<Command> {
        if self.busy() {
            return Vec::new();
        }
        self.trust_prompt = None;
        self.form.offer_host = false;
        match self.attempt(register) {
            Err(reason) => {
                self.form.error = Some(FormError::Message(reason));
                Vec::new()
            }
            Ok(mut attempt) => {
                if let Some(h) = &self.hosting {
                    if is_local_address(&attempt.server) {
                        attempt.pinned = Some(h.fingerprint);
                        attempt.accept_first_use = true;
                    }
                }
                self.form.error = None;
                self.form.busy = true;
                self.pending_attempt = Some(attempt.clone());
                vec![Command::Login(attempt)]
            }
        }
    }

    /// The form as a login attempt, or why it cannot be one.
    fn attempt(&self, register: bool) -> Result<LoginAttempt, String> {
        let server = self.form.server.text.trim().to_owned();
        if server.is_empty() {
            return Err("Type the server's address, like 127.0.0.1:4433.".into());
        }
        let name = self.form.name.text.trim().to_owned();
        // New names meet every rule; an existing account may predate some.
        let check = if register {
            UserName::parse
        } else {
            UserName::stored
        };
        if let Err(e) = check(&name) {
            return Err(capitalise(&e.to_string()) + ".");
        }
        let password = self.form.password.text.clone();
        if password.is_empty() {
            return Err("Type your password.".into());
        }
        if register {
            check_new_password(&password, &self.form.confirm.text)?;
        }
        Ok(LoginAttempt {
            server,
            name,
            password,
            register,
            pinned: None,
            accept_first_use: false,
        })
    }
}

fn check_new_password(password: &str, confirm: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "Use at least {MIN_PASSWORD_CHARS} characters for the password."
        ));
    }
    if password != confirm {
        return Err("The passwords do not match.".into());
    }
    Ok(())
}

fn message(s: String) -> Option<FormError> {
    Some(FormError::Message(s))
}

/// A login failure that needs nothing but words.
fn form_error(error: ClientError) -> FormError {
    match error {
        ClientError::CertificateChanged {
            server,
            known,
            presented,
        }
        | ClientError::FingerprintMismatch {
            server,
            expected: known,
            presented,
        } => FormError::CertificateChanged {
            server,
            known,
            presented,
        },
        ClientError::Refused(Refusal::WrongPassword) => {
            FormError::Message("Wrong password.".to_owned())
        }
        ClientError::Refused(Refusal::NameTaken(name)) => FormError::Message(format!(
            "The name \"{}\" is taken: choose another.",
            truncate_for_display(&name, 32)
        )),
        ClientError::PasswordMismatch => {
            FormError::Message("The passwords do not match.".to_owned())
        }
        other => FormError::Message(capitalise(&other.to_string())),
    }
}

/// Whether a typed server address is this machine (where "Host a server
/// here" makes sense).
pub fn is_local_address(server: &str) -> bool {
    let host = server.trim();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "::1" | "0.0.0.0"
    )
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A form for alice at `server`, submitted.
    fn submitted(server: &str) -> (Login, Screen) {
        let mut login = Login::new(server, "alice", "pw");
        let mut screen = Screen::Login;
        let commands = login.handle(Intent::Login, &mut screen);
        assert!(matches!(commands.as_slice(), [Command::Login(_)]));
        (login, screen)
    }

    #[test]
    fn login_failures_read_as_sentences() {
        let (mut login, mut screen) = submitted(DEFAULT_SERVER);
        login.failed(ClientError::Refused(Refusal::WrongPassword), &mut screen);
        assert_eq!(
            login.form.error,
            Some(FormError::Message("Wrong password.".into()))
        );
        assert!(!login.form.busy);
        login.handle(Intent::Login, &mut screen);
        login.failed(
            ClientError::Refused(Refusal::UnknownUser("alice".into())),
            &mut screen,
        );
        assert!(
            matches!(&login.form.error, Some(FormError::Message(m)) if m.contains("No account"))
        );
        assert_eq!(screen, Screen::Login);
    }

    #[test]
    fn registration_checks_the_confirmation_locally() {
        let mut login = Login::new(DEFAULT_SERVER, "alice", "long-enough-1");
        let mut screen = Screen::Login;
        login.handle(Intent::ShowRegister, &mut screen);
        assert_eq!(login.form.focus, Some(Field::Confirm));
        login.form.confirm = TextBuffer::new("long-enough-2");
        assert!(login.handle(Intent::Register, &mut screen).is_empty());
        assert_eq!(
            login.form.error,
            Some(FormError::Message("The passwords do not match.".into()))
        );
        login.form.confirm = TextBuffer::new("long-enough-1");
        let commands = login.handle(Intent::Register, &mut screen);
        assert!(matches!(commands.as_slice(), [Command::Login(a)] if a.register));
    }

    #[test]
    fn an_unknown_server_asks_and_accepting_pins_its_fingerprint() {
        let (mut login, mut screen) = submitted(DEFAULT_SERVER);
        let fingerprint = Fingerprint([7; 32]);
        login.failed(
            ClientError::UnknownServer {
                server: DEFAULT_SERVER.into(),
                fingerprint,
            },
            &mut screen,
        );
        assert_eq!(
            login.trust_prompt.as_ref().map(|p| p.fingerprint),
            Some(fingerprint)
        );
        match login
            .handle(Intent::AcceptFingerprint, &mut screen)
            .as_slice()
        {
            [Command::Login(a)] => {
                assert_eq!(a.pinned, Some(fingerprint));
                assert!(a.accept_first_use);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_changed_certificate_is_a_loud_refusal_not_a_prompt() {
        let (mut login, mut screen) = submitted(DEFAULT_SERVER);
        login.failed(
            ClientError::CertificateChanged {
                server: DEFAULT_SERVER.into(),
                known: Fingerprint([1; 32]),
                presented: Fingerprint([2; 32]),
            },
            &mut screen,
        );
        assert!(login.trust_prompt.is_none());
        assert!(matches!(
            login.form.error,
            Some(FormError::CertificateChanged { .. })
        ));
    }

    #[test]
    fn nothing_at_the_local_address_offers_hosting_then_joins_it() {
        let (mut login, mut screen) = submitted(DEFAULT_SERVER);
        let unreachable = ClientError::Unreachable {
            server: DEFAULT_SERVER.into(),
            reason: "timed out".into(),
        };
        login.failed(unreachable, &mut screen);
        assert!(login.form.offer_host);
        let commands = login.handle(Intent::HostLocally, &mut screen);
        assert!(matches!(commands.as_slice(), [Command::Host { .. }]));
        assert!(login.busy());
        let fingerprint = Fingerprint([9; 32]);
        let commands = login.hosted(Hosting {
            join_addresses: vec!["192.168.1.5:4433".into()],
            fingerprint,
        });
        match commands.as_slice() {
            [Command::Login(a)] => assert_eq!(a.pinned, Some(fingerprint)),
            other => panic!("{other:?}"),
        }
        assert!(login.hosting.is_some());
        // The new server does not know us yet: straight to creating the account.
        login.failed(
            ClientError::Refused(Refusal::UnknownUser("alice".into())),
            &mut screen,
        );
        assert_eq!(screen, Screen::Register);
        assert_eq!(login.form.focus, Some(Field::Confirm));
    }

    #[test]
    fn a_remote_unreachable_server_does_not_offer_hosting() {
        let (mut login, mut screen) = submitted("chat.example.org:4433");
        let unreachable = ClientError::Unreachable {
            server: "chat.example.org:4433".into(),
            reason: "timed out".into(),
        };
        login.failed(unreachable, &mut screen);
        assert!(!login.form.offer_host);
    }

    #[test]
    fn a_logout_keeps_the_server_the_name_and_the_hosted_server() {
        let (mut login, _) = submitted(DEFAULT_SERVER);
        login.hosting = Some(Hosting {
            join_addresses: Vec::new(),
            fingerprint: Fingerprint([3; 32]),
        });
        let after = login.after_logout();
        assert_eq!(after.form.name.text, "alice");
        assert_eq!(after.form.server.text, DEFAULT_SERVER);
        assert!(after.form.password.text.is_empty() && after.hosting.is_some());
        assert_eq!(after.form.focus, Some(Field::Password));
    }

    #[test]
    fn local_addresses_are_recognised() {
        assert!(is_local_address("127.0.0.1:4433"));
        assert!(is_local_address("localhost"));
        assert!(is_local_address("[::1]:4433"));
        assert!(!is_local_address("chat.example.org:4433"));
    }
}
