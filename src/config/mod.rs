//! TOML configuration: one main file plus `conf.d/*.toml` drop-ins (sorted, later wins),
//! parsed into a validated model. Every error names `file:line:col` and the rule broken.
//!
//! `model` holds the validated types the rest of the crate reads, `load` finds and reads the
//! files, `raw` is their serde form and `build` validates it into the model; `error` places
//! errors in a file.

mod build;
mod error;
mod ib;
mod load;
mod model;
mod names;
mod raw;
mod vfkeys;

pub use build::parse_str;
pub use error::ConfigError;
pub use load::{default_files, drop_ins, load, read_file, MAX_FILE_BYTES};
pub use model::{
    Bind, BondConfig, BootConfig, ChannelsSetting, Config, EswitchMode, EswitchOrder, GuidScheme,
    IbConfig, LinkState, OvsConfig, PfConfig, PfMatch, PfOvs, Representors, RingsSetting,
    TuneConfig, VfConfig, DEFAULT_TIMEOUT, MAX_VFS,
};
pub use model::{DevlinkConfig, DevlinkParam, EncapMode, InlineMode, ParamCmode, ParamSetting};
pub use model::{IbPolicy, PfIb, ProbeJobs, MAX_PROBE_JOBS};
pub use vfkeys::vf_bind;

impl Config {
    /// The files this config was read from, for messages that say where to look.
    pub fn source_list(&self) -> String {
        if self.sources.is_empty() {
            return "no config file".into();
        }
        let v: Vec<String> = self
            .sources
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        v.join(", ")
    }
}
