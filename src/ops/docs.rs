//! Man pages (clap_mangen) and bash/zsh/fish completions (clap_complete) for every binary of
//! the suite, from the same clap definitions the binaries parse with: `sriov-offload
//! generate-docs DIR` (hidden) writes `DIR/man/NAME.1` and `DIR/completions/{bash/NAME,zsh/_NAME,fish/NAME.fish}`;
//! the .deb build runs it and installs the files.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli;

/// Every binary's command line, as it parses it.
pub fn commands() -> Vec<clap::Command> {
    vec![
        cli::flow_command("vf-pre"),
        cli::flow_command("vf-post"),
        cli::WaitArgs::command(),
        crate::irq::Args::command(),
        cli::GeneratorArgs::command(),
        super::Args::command(),
    ]
}

/// Writes the man pages and completions under `dir`.
pub fn generate(dir: &Path) -> Result<()> {
    let man = dir.join("man");
    fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        let mut buf = vec![];
        clap_mangen::Man::new(cmd.clone())
            .section("1")
            .render(&mut buf)
            .with_context(|| format!("rendering the man page of {name}"))?;
        let p = man.join(format!("{name}.1"));
        fs::write(&p, buf).with_context(|| format!("writing {}", p.display()))?;
        // the names each shell's completion loader looks for
        for (shell, sub, file) in [
            (Shell::Bash, "bash", name.clone()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let d = dir.join("completions").join(sub);
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            let mut buf = vec![];
            clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
            let p = d.join(file);
            fs::write(&p, buf).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(())
}
