//! Log setup: text or JSON lines on stderr, filtered by `--log-level`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

#[derive(Debug)]
pub(crate) enum InitError {
    /// `--log-level` is not a level or filter.
    Level(String),
    /// The subscriber could not be installed.
    Setup(String),
}

pub(crate) fn init(level: &str, format: LogFormat) -> Result<(), InitError> {
    // A bare word that is not a level would silently mean "everything from target <word>".
    if !level.contains(['=', ','])
        && level
            .parse::<tracing::level_filters::LevelFilter>()
            .is_err()
    {
        return Err(InitError::Level(format!(
            "--log-level {level:?} is not a level (error, warn, info, debug, trace, off) or a \
             filter such as \"info,esc_csi_provider=debug\""
        )));
    }
    let filter = EnvFilter::try_new(level).map_err(|e| {
        InitError::Level(format!(
            "--log-level {level:?} is not a level or filter: {e}"
        ))
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    result.map_err(|e| InitError::Setup(format!("cannot set up logging: {e}")))
}
