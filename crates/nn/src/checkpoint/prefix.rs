//! Names from elsewhere: a prefix on every key, added, stripped, or pointed
//! out.
//!
//! A PyTorch model saved from inside a wrapper (`model.lstm.weight_ih_l0`),
//! or a file of a whole model whose one part you want (`lstm.weight_ih_l0`
//! for a bare `Lstm`, whose own names are `weight_ih_l0`), differs from the
//! module loading it by one prefix on every name. [`strip_prefix`] and
//! [`add_prefix`] rename the tensors; when a load fails because every name
//! differs by one prefix, [`prefix_hint`] says which, and the errors of
//! [`Module::load_state_dict`](crate::Module::load_state_dict) and
//! [`load`](super::load) print it.

use std::collections::{BTreeMap, BTreeSet};

/// `tensors` with `prefix` removed from the names that start with it (the
/// others keep theirs), as PyTorch's
/// `consume_prefix_in_state_dict_if_present` does.
///
/// ```
/// use std::collections::BTreeMap;
/// use nn::checkpoint::strip_prefix;
/// use tensor::Tensor;
///
/// let file = BTreeMap::from([("model.fc.weight".to_string(), Tensor::<f32>::zeros(&[1, 2]))]);
/// let names: Vec<String> = strip_prefix(file, "model.").into_keys().collect();
/// assert_eq!(names, ["fc.weight"]);
/// ```
pub fn strip_prefix<V>(tensors: BTreeMap<String, V>, prefix: &str) -> BTreeMap<String, V> {
    tensors
        .into_iter()
        .map(|(name, value)| match name.strip_prefix(prefix) {
            Some(rest) => (rest.to_string(), value),
            None => (name, value),
        })
        .collect()
}

/// `tensors` with `prefix` put before every name (to load a file of a part
/// into a model that holds that part as, say, its field `encoder`).
pub fn add_prefix<V>(tensors: BTreeMap<String, V>, prefix: &str) -> BTreeMap<String, V> {
    tensors
        .into_iter()
        .map(|(name, value)| (format!("{prefix}{name}"), value))
        .collect()
}

/// If every parameter the model misses (`missing`) is in the file under
/// one extra prefix (among the `unexpected` tensors, which may hold more:
/// a file of a whole model loaded into one part), or every unexpected
/// tensor is a missing parameter minus one prefix (a part's file loaded
/// into a whole model), a sentence saying so and what to do; `None`
/// otherwise.
pub fn prefix_hint(missing: &[String], unexpected: &[String]) -> Option<String> {
    if let Some(prefix) = extra_prefix(missing, unexpected) {
        return Some(format!(
            "every name differs by the prefix {prefix:?}: the file's names carry it and the \
             model's do not (rename the tensors with nn::checkpoint::strip_prefix{})",
            if unexpected.len() > missing.len() {
                ", keeping those that start with it"
            } else {
                ""
            }
        ));
    }
    extra_prefix(unexpected, missing).map(|prefix| {
        format!(
            "every name differs by the prefix {prefix:?}: the model's names carry it and the \
             file's do not (rename the tensors with nn::checkpoint::add_prefix, or load the \
             file into the part of the model it holds)"
        )
    })
}

/// A non-empty `p` with `p + s` in `long` for every `s` in `short` (which
/// must not be empty), if there is one.
fn extra_prefix(short: &[String], long: &[String]) -> Option<String> {
    let first = short.first()?;
    let long_names: BTreeSet<&str> = long.iter().map(String::as_str).collect();
    long.iter()
        .filter_map(|name| name.strip_suffix(first.as_str()))
        .filter(|prefix| !prefix.is_empty())
        .find(|prefix| {
            short
                .iter()
                .all(|name| long_names.contains(format!("{prefix}{name}").as_str()))
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stripping_and_adding_a_prefix_rename_only_what_they_should() {
        let file = BTreeMap::from([
            ("model.fc.weight".to_string(), 1),
            ("model.fc.bias".to_string(), 2),
            ("steps".to_string(), 3),
        ]);
        let stripped = strip_prefix(file, "model.");
        let keys: Vec<&str> = stripped.keys().map(String::as_str).collect();
        assert_eq!(keys, ["fc.bias", "fc.weight", "steps"]);
        let added = add_prefix(stripped, "net.");
        assert_eq!(added["net.fc.weight"], 1);
        assert_eq!(added["net.steps"], 3);
    }

    #[test]
    fn a_prefix_on_every_name_is_found_in_either_direction() {
        let model = names(&["fc.bias", "fc.weight", "lstm.weight_ih_l0"]);
        let file = names(&[
            "model.fc.bias",
            "model.fc.weight",
            "model.lstm.weight_ih_l0",
        ]);
        let hint = prefix_hint(&model, &file).unwrap();
        assert!(
            hint.contains("\"model.\"") && hint.contains("strip_prefix"),
            "{hint}"
        );
        let hint = prefix_hint(&file, &model).unwrap();
        assert!(
            hint.contains("\"model.\"") && hint.contains("add_prefix"),
            "{hint}"
        );
        // A file of more than the model: the part under the prefix is the model.
        let mut whole = file.clone();
        whole.push("model.embedding.weight".to_string());
        let hint = prefix_hint(&model, &whole).unwrap();
        assert!(hint.contains("keeping those that start with it"), "{hint}");
        // Names that differ otherwise get no hint.
        let other = names(&["model.fc.bias", "model.fc.weight", "lstm.weight_ih_l0"]);
        assert_eq!(prefix_hint(&model, &other), None);
        assert_eq!(prefix_hint(&model, &file[..2]), None);
        assert_eq!(prefix_hint(&[], &[]), None);
    }
}
