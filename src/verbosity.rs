//! How much the tools say on stderr besides errors: `-q` for errors and warnings only,
//! `-v` for connection details, declarations, confirms and acknowledgements too.

/// A level of talk on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors and warnings only (`-q`).
    Quiet,
    /// Also notices: retries, reconnections, what is bound, that the listener is ready.
    #[default]
    Normal,
    /// Also connection details, declarations, confirms and acknowledgements (`-v`).
    Verbose,
}

impl Verbosity {
    /// Whether notices are shown.
    pub fn notices(self) -> bool {
        self >= Verbosity::Normal
    }

    /// Whether details are shown.
    pub fn details(self) -> bool {
        self >= Verbosity::Verbose
    }
}
