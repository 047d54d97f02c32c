//! What the binary's integration tests share: one finished run of `e2ee-backup`.

use std::process::Output;

/// A finished run: exit status and output.
pub struct Run(pub Output);

impl Run {
    /// The exit status.
    pub fn code(&self) -> i32 {
        self.0.status.code().expect("exit code")
    }

    /// Standard output, lossily as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    /// Standard error, lossily as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// Fails with both outputs unless the run exited with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert_eq!(
            self.code(),
            code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }
}
