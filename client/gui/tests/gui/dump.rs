//! Reading what a window reports in its state dump: the rectangles of the
//! controls it drew, its conversations' messages, lists of names.

use serde_json::Value;

/// The rectangle the dump's layout gives `control`.
pub fn layout(dump: &Value, control: &str) -> Option<[f64; 4]> {
    let r = dump["layout"][control].as_array()?;
    let v: Vec<f64> = r.iter().filter_map(Value::as_f64).collect();
    (v.len() == 4).then(|| [v[0], v[1], v[2], v[3]])
}

/// The middle of a layout rectangle, as xdotool arguments.
pub fn centre(r: [f64; 4]) -> (String, String) {
    (
        format!("{}", (r[0] + r[2] / 2.0).round()),
        format!("{}", (r[1] + r[3] / 2.0).round()),
    )
}

/// The first message of `conversation` that `pick` accepts.
pub fn find_message(
    dump: &Value,
    conversation: &str,
    pick: impl Fn(&Value) -> bool,
) -> Option<Value> {
    dump["conversations"]
        .as_array()?
        .iter()
        .find(|c| c["conversation"] == conversation)?["messages"]
        .as_array()?
        .iter()
        .find(|m| pick(m))
        .cloned()
}

/// A JSON array of strings as strings.
pub fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
