//! The Docker objects of one cluster-test run, through the `docker` command line: every network,
//! volume and container it makes carries the label `silkline.cluster-test=<run id>`, so that
//! [`Docker::remove_all`] (and `scripts/cluster-test`'s trap, with the same filter) removes
//! exactly what this run made and nothing else.

use std::time::Duration;

use anyhow::{Context as _, bail};

/// The label every object of a run carries.
pub const LABEL: &str = "silkline.cluster-test";

/// Most time one `docker` command may take (`docker kill` and `stop` take seconds; a
/// `docker start` of a node, under load on 2 cores, can take longer).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);

/// One run's Docker objects.
#[derive(Debug, Clone)]
pub struct Docker {
    pub run_id: String,
}

impl Docker {
    /// `<run id>-<what>`: the name of one of this run's objects.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.run_id)
    }

    fn label(&self) -> String {
        format!("{LABEL}={}", self.run_id)
    }

    /// Runs `docker ARGS`, returns its standard output (trimmed); a failure names the command
    /// and quotes its standard error.
    pub async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let output = tokio::time::timeout(
            COMMAND_TIMEOUT,
            tokio::process::Command::new("docker")
                .args(args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .with_context(|| format!("docker {} did not finish in time", args.join(" ")))?
        .with_context(|| format!("run docker {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "docker {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }

    /// A bridge network of this run; `internal` networks have no route out of the host.
    pub async fn network(&self, what: &str, internal: bool) -> anyhow::Result<String> {
        let name = self.name(what);
        let label = self.label();
        let mut args = vec!["network", "create", "--driver", "bridge", "--label", &label];
        if internal {
            args.push("--internal");
        }
        args.push(&name);
        self.run(&args).await?;
        Ok(name)
    }

    /// A named volume of this run; with `tmpfs_size`, a tmpfs of that size (`64m`): a disk that
    /// can be filled.
    pub async fn volume(&self, what: &str, tmpfs_size: Option<&str>) -> anyhow::Result<String> {
        let name = self.name(what);
        let label = self.label();
        let size = tmpfs_size.map(|s| format!("o=size={s}"));
        let mut args = vec!["volume", "create", "--label", &label];
        if let Some(size) = &size {
            args.extend([
                "--opt",
                "type=tmpfs",
                "--opt",
                "device=tmpfs",
                "--opt",
                size,
            ]);
        }
        args.push(&name);
        self.run(&args).await?;
        Ok(name)
    }

    /// Creates (does not start) a container of this run: `extra` are `docker create` options,
    /// `command` the image's arguments.
    pub async fn create(
        &self,
        what: &str,
        image: &str,
        extra: &[String],
        command: &[&str],
    ) -> anyhow::Result<String> {
        let name = self.name(what);
        let label = self.label();
        let mut args: Vec<&str> = vec!["create", "--name", &name, "--label", &label];
        args.extend(extra.iter().map(String::as_str));
        args.push(image);
        args.extend(command);
        self.run(&args).await?;
        Ok(name)
    }

    /// Whether the container is running (false for a stopped or missing one).
    pub async fn running(&self, container: &str) -> bool {
        self.run(&["inspect", "--format", "{{.State.Running}}", container])
            .await
            .is_ok_and(|s| s == "true")
    }

    /// The container's exit code (when it has stopped).
    pub async fn exit_code(&self, container: &str) -> anyhow::Result<i64> {
        let code = self
            .run(&["inspect", "--format", "{{.State.ExitCode}}", container])
            .await?;
        code.parse().context("docker inspect's exit code")
    }

    /// The last `lines` of the container's log (stdout and stderr together).
    pub async fn logs(&self, container: &str, lines: usize) -> String {
        let tail = lines.to_string();
        let output = tokio::process::Command::new("docker")
            .args(["logs", "--tail", &tail, container])
            .output()
            .await;
        match output {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("(docker logs failed: {e})"),
        }
    }

    /// Removes every container, network and volume of this run (containers first: a network
    /// or volume in use cannot be removed). Best effort: reports what it could not remove.
    pub async fn remove_all(&self) -> Vec<String> {
        let filter = format!("label={}", self.label());
        let mut failures = Vec::new();
        let lists: [(&[&str], &[&str]); 3] = [
            (&["ps", "-aq", "--filter"], &["rm", "-f", "-v"]),
            (&["network", "ls", "-q", "--filter"], &["network", "rm"]),
            (&["volume", "ls", "-q", "--filter"], &["volume", "rm", "-f"]),
        ];
        for (list, remove) in lists {
            let mut args = list.to_vec();
            args.push(&filter);
            let ids = match self.run(&args).await {
                Ok(ids) => ids,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            for id in ids.split_whitespace() {
                let mut args = remove.to_vec();
                args.push(id);
                if let Err(e) = self.run(&args).await {
                    failures.push(e.to_string());
                }
            }
        }
        failures
    }
}
