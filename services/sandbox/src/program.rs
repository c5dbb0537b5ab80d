//! Finding the agent's program before its run starts, as the sandbox must
//! show it: the file `command[0]` names (on the run's `PATH` when it is a
//! bare name), the real file behind its links, and the folders that make
//! it runnable. An npm-installed CLI is a link in `node_modules/.bin` to a
//! script in its package, which needs its dependencies beside it: the
//! whole outermost `node_modules` folder is shown, read-only. A program
//! that is not there fails the run at once, naming where it looked.

use std::path::{Component, Path, PathBuf};

/// The program found, and the host folders a sandbox shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The path to start (absolute when found on `PATH`).
    pub path: PathBuf,
    /// Folders outside the system folders that hold it and what it needs.
    pub folders: Vec<PathBuf>,
}

/// The agent's program is not where its command says.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the agent's program `{program}` was not found ({looked}): install it, or set the runner's command to its full path"
)]
pub struct NotFound {
    /// As the command names it.
    pub program: String,
    /// Where it was looked for.
    pub looked: String,
}

/// Finds `program` from `cwd`, searching `path_var` (the run's `PATH`)
/// for a bare name; `is_system` says which folders every sandbox shows.
pub fn find(
    program: &str,
    path_var: Option<&str>,
    cwd: &Path,
    is_system: impl Fn(&Path) -> bool,
) -> Result<Program, NotFound> {
    let not_found = |looked: String| NotFound {
        program: program.to_owned(),
        looked,
    };
    let found = if program.contains('/') {
        let path = cwd.join(program);
        runnable(&path)
            .then_some(path)
            .ok_or_else(|| not_found(format!("looked at {}", cwd.join(program).display())))?
    } else {
        let dirs = path_var.unwrap_or_default();
        std::env::split_paths(dirs)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|path| runnable(path))
            .ok_or_else(|| not_found(format!("looked in PATH={dirs}")))?
    };
    let real = std::fs::canonicalize(&found).map_err(|e| not_found(format!("{}: {e}", found.display())))?;
    let mut folders = Vec::new();
    for folder in [found.parent().map(Path::to_path_buf), Some(package_folder(&real))]
        .into_iter()
        .flatten()
    {
        if !is_system(&folder) && !folders.iter().any(|f: &PathBuf| folder.starts_with(f)) {
            folders.retain(|f: &PathBuf| !f.starts_with(&folder));
            folders.push(folder);
        }
    }
    Ok(Program { path: found, folders })
}

/// A file (links followed) that may be executed.
fn runnable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The outermost `node_modules` folder above `real` (a package and its
/// dependencies), else the folder holding it.
fn package_folder(real: &Path) -> PathBuf {
    let mut outermost = None;
    let mut at = PathBuf::new();
    for part in real.components() {
        at.push(part);
        if part == Component::Normal("node_modules".as_ref()) && outermost.is_none() {
            outermost = Some(at.clone());
        }
    }
    outermost.unwrap_or_else(|| real.parent().map_or_else(|| PathBuf::from("/"), Path::to_path_buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn executable(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    #[test]
    fn an_npm_bin_link_shows_its_whole_node_modules_folder() {
        let root = tempfile::tempdir().expect("dir");
        let root = std::fs::canonicalize(root.path()).expect("real");
        let modules = root.join("tools/node_modules");
        executable(&modules.join("@anthropic-ai/claude-code/cli.js"));
        std::fs::create_dir_all(modules.join(".bin")).expect("dir");
        std::os::unix::fs::symlink("../@anthropic-ai/claude-code/cli.js", modules.join(".bin/claude")).expect("link");
        let by_path = find("tools/node_modules/.bin/claude", None, &root, |_| false).expect("found");
        assert_eq!(by_path.path, modules.join(".bin/claude"));
        assert_eq!(
            by_path.folders,
            std::slice::from_ref(&modules),
            "the .bin folder is inside it"
        );
        let path_var = format!("/nonexistent:{}", modules.join(".bin").display());
        let by_name = find("claude", Some(&path_var), Path::new("/"), |_| false).expect("found on PATH");
        assert_eq!(
            by_name, by_path,
            "a bare name is found on the run's PATH, as an absolute path"
        );
    }

    #[test]
    fn a_plain_program_shows_its_folder_unless_it_is_a_system_one() {
        let root = tempfile::tempdir().expect("dir");
        let agent = root.path().join("bin/agent.sh");
        executable(&agent);
        let found = find(&agent.display().to_string(), None, Path::new("/"), |_| false).expect("found");
        let real_folder = std::fs::canonicalize(root.path().join("bin")).expect("real");
        assert!(found.folders.contains(&root.path().join("bin")) || found.folders.contains(&real_folder));
        let sh = find("sh", Some("/usr/bin:/bin"), Path::new("/"), |p| {
            p.starts_with("/usr") || p.starts_with("/bin")
        })
        .expect("sh");
        assert!(sh.folders.is_empty(), "{sh:?}");
    }

    #[test]
    fn a_missing_program_names_where_it_was_looked_for() {
        let rows = [
            ("claude", Some("/opt/a:/opt/b"), "looked in PATH=/opt/a:/opt/b"),
            ("/opt/none/agent", None, "looked at /opt/none/agent"),
        ];
        for (program, path_var, looked) in rows {
            let e = find(program, path_var, Path::new("/"), |_| false).expect_err("missing");
            assert_eq!(e.looked, looked);
            assert!(e.to_string().contains(&format!("`{program}` was not found")), "{e}");
        }
        let root = tempfile::tempdir().expect("dir");
        std::os::unix::fs::symlink(root.path().join("gone"), root.path().join("dangling")).expect("link");
        assert!(
            find("./dangling", None, root.path(), |_| false).is_err(),
            "a dangling link is not a program"
        );
    }
}
