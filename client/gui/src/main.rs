//! `natter`: the graphical chat client. Opens the window and runs the
//! frame loop in `natter_gui::ui`; `--bench-frames` (or
//! `NATTER_BENCH_FRAMES=1`) runs the frame-time benchmark instead. The
//! environment hooks are listed in `natter_gui::app::hooks`.

use natter_gui::app::hooks::Hooks;
use natter_gui::ui;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let hooks = Hooks::from_env();
    let bench = hooks.bench || std::env::args().any(|a| a == "--bench-frames");
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!(
            "natter: the graphical Natter chat client\n\n\
             usage: natter [--bench-frames | --emoji-sheet]\n\n\
             environment: NATTER_SERVER, NATTER_USER, NATTER_PASSWORD prefill the login form;\n\
             NATTER_KNOWN_SERVERS, NATTER_CACHE_DIR move the known-servers file and the media cache;\n\
             NATTER_STATE_DUMP (F12), NATTER_STATE_DUMP_AUTO, NATTER_SCREENSHOT (F11) are test hooks."
        );
        return;
    }
    if std::env::args().any(|a| a == "--emoji-sheet") {
        macroquad::Window::from_config(ui::window_conf(), ui::emoji::sheet());
    } else if bench {
        macroquad::Window::from_config(ui::window_conf(), ui::bench::run());
    } else {
        macroquad::Window::from_config(ui::window_conf(), ui::run(hooks));
    }
}
