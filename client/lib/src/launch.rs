//! Handing a cached picture or file to the operating system: open it with
//! the default application, or show its folder in the file manager.

use std::path::Path;

/// Opens a file with the system's default application, without waiting.
pub fn open_with_system(path: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "macos")]
    let mut command = std::process::Command::new("open");
    #[cfg(target_os = "windows")]
    let mut command = {
        let mut c = std::process::Command::new("cmd");
        c.args(["/C", "start", ""]);
        c
    };
    #[cfg(not(any(target_os = "macos", target_os = "windows")))]
    let mut command = std::process::Command::new("xdg-open");
    let program = command.get_program().to_string_lossy().into_owned();
    command
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => std::io::Error::new(
                e.kind(),
                format!("no program to open files with ({program} is not installed)"),
            ),
            _ => e,
        })
}

/// Opens the folder that holds `path` in the system's file manager.
pub fn show_in_folder(path: &Path) -> std::io::Result<()> {
    open_with_system(path.parent().unwrap_or(path))
}
