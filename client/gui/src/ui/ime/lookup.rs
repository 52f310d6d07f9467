//! The input method's lookup table (its candidates), read from the
//! `UpdateLookupTable` signal's `IBusLookupTable` variant: a structure
//! `(s a{sv} u u b b i av av)` of name, attachments, page size, cursor,
//! cursor shown, round, orientation, candidates and labels, each candidate
//! an `IBusText` variant `(s a{sv} s v)`.

use zbus::zvariant::Value;

pub use crate::ui::candidates::Candidates;

/// Reads an `IBusLookupTable`; `None` if it is not one.
pub fn parse(table: &Value<'_>) -> Option<Candidates> {
    let fields = structure(table)?;
    let page_size = u32_field(fields.get(2)?)?.max(1) as usize;
    let cursor = u32_field(fields.get(3)?)? as usize;
    let cursor_visible = matches!(fields.get(4)?, Value::Bool(true));
    let Value::Array(all) = fields.get(7)? else {
        return None;
    };
    let all: Vec<String> = all.iter().filter_map(text).collect();
    let start = (cursor / page_size) * page_size;
    let items: Vec<String> = all.into_iter().skip(start).take(page_size).collect();
    let cursor = (cursor_visible && cursor - start < items.len()).then_some(cursor - start);
    Some(Candidates { items, cursor })
}

/// The string of an `IBusText` variant.
pub fn text(value: &Value<'_>) -> Option<String> {
    match structure(value)?.get(2)? {
        Value::Str(s) => Some(s.as_str().to_owned()),
        _ => None,
    }
}

/// The fields of a structure, looking through variants.
fn structure<'a>(value: &'a Value<'a>) -> Option<&'a [Value<'a>]> {
    match value {
        Value::Value(inner) => structure(inner),
        Value::Structure(s) => Some(s.fields()),
        _ => None,
    }
}

fn u32_field(value: &Value<'_>) -> Option<u32> {
    match value {
        Value::U32(n) => Some(*n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use zbus::zvariant::{serialized::Context, to_bytes, OwnedValue, LE};

    fn ibus_text(s: &str) -> Value<'static> {
        let attrs = Value::from((
            "IBusAttrList",
            HashMap::<String, Value<'static>>::new(),
            Vec::<Value<'static>>::new(),
        ));
        Value::Value(Box::new(Value::from((
            "IBusText",
            HashMap::<String, Value<'static>>::new(),
            s.to_owned(),
            attrs,
        ))))
    }

    fn table(words: &[&str], page_size: u32, cursor: u32, shown: bool) -> Value<'static> {
        let candidates: Vec<Value<'static>> = words.iter().map(|w| ibus_text(w)).collect();
        let labels: Vec<Value<'static>> = Vec::new();
        Value::from((
            "IBusLookupTable",
            HashMap::<String, Value<'static>>::new(),
            page_size,
            cursor,
            shown,
            false,
            0i32,
            candidates,
            labels,
        ))
    }

    /// The table as the signal carries it: serialised in a variant and
    /// read back from the bytes.
    fn over_the_wire(table: Value<'static>) -> OwnedValue {
        let ctxt = Context::new_dbus(LE, 0);
        let bytes = to_bytes(ctxt, &(Value::Value(Box::new(table)), true)).unwrap();
        let (value, _visible): (OwnedValue, bool) = bytes.deserialize().unwrap().0;
        value
    }

    #[test]
    fn the_page_and_its_highlight_are_read_from_the_bytes() {
        let words = ["你好", "拟好", "你", "尼", "泥"];
        let value = over_the_wire(table(&words, 5, 0, true));
        let read = parse(&value).unwrap();
        assert_eq!(read.items, words);
        assert_eq!(read.cursor, Some(0));
    }

    #[test]
    fn the_cursor_picks_its_page() {
        let words = ["a", "b", "c", "d", "e"];
        let value = over_the_wire(table(&words, 2, 3, true));
        let read = parse(&value).unwrap();
        assert_eq!(read.items, ["c", "d"]);
        assert_eq!(read.cursor, Some(1));
        let hidden = parse(&over_the_wire(table(&words, 2, 3, false))).unwrap();
        assert_eq!(hidden.cursor, None);
    }

    #[test]
    fn other_values_are_not_tables() {
        assert_eq!(parse(&Value::U32(3)), None);
        assert_eq!(parse(&ibus_text("x")), None);
    }
}
