//! docs/secretproviderclass.md against the code: its parameter table lists exactly the
//! parameters the class reader knows, and its item table exactly the keys an item may have.

use std::collections::BTreeSet;
use std::path::Path;

use esc_csi_provider::{class, class::items};

/// The first column (`` `name` ``) of the table under `heading`.
fn table_keys(heading: &str) -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/secretproviderclass.md");
    let page = std::fs::read_to_string(path).unwrap();
    let section = page
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .unwrap_or_else(|| panic!("no section {heading:?} in docs/secretproviderclass.md"));
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(key, _)| key.to_owned()))
        .collect()
}

#[test]
fn the_parameter_table_lists_exactly_the_parameters_the_provider_reads() {
    let code: BTreeSet<String> = class::keys::PARAMETERS
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    assert_eq!(table_keys("Parameters"), code);
}

#[test]
fn the_item_table_lists_exactly_the_keys_an_item_may_have() {
    let code: BTreeSet<String> = items::KEYS.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(table_keys("Items of `secrets`"), code);
}
