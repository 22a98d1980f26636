//! How values are written for people, in every output: money, percentages, identifiers, and
//! the escaping each target needs (Markdown cells, HTML text, CSV cells, terminal text).
//! Markdown, HTML, terminal and CSV output format through here, so a number reads the same
//! everywhere.

/// Money with thousands grouped and two decimals, as reports show it: `1,234,567.89`.
pub fn amount(v: f64) -> String {
    let neg = v < 0.0;
    let cents = (v.abs() * 100.0).round() as u64;
    let (whole, frac) = (cents / 100, cents % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{}{grouped}.{frac:02}", if neg { "-" } else { "" })
}

/// Money with two decimals and no grouping, for aligned terminal columns: `1234567.89`.
pub(crate) fn decimal(v: f64) -> String {
    format!("{v:.2}")
}

/// A signed money difference with two decimals: `+12.30`, `-4.00`.
pub(crate) fn signed_decimal(v: f64) -> String {
    format!("{v:+.2}")
}

/// A change as `+12.3%`, or `new` when there was nothing before.
pub(crate) fn change_pct(v: Option<f64>) -> String {
    v.map(|p| format!("{:+.1}%", p * 100.0))
        .unwrap_or_else(|| "new".into())
}

/// A share as `12.3%`, or `—` when there is none.
pub(crate) fn share_pct(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => "—".into(),
    }
}

/// Terminal-safe text: control characters (escape sequences from a hostile tag value) removed.
pub(crate) fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// Terminal-safe text of at most `n` characters, shortened in the middle: an identifier
/// keeps its start and its end (an ARN its account and its profile name).
pub(crate) fn shorten_middle(s: &str, n: usize) -> String {
    let s = clean(s);
    let count = s.chars().count();
    if count <= n || n < 3 {
        return s;
    }
    let head = (n - 1) / 3;
    let tail = n - 1 - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(count - tail).collect();
    format!("{start}…{end}")
}

/// Escape a cloud-provided string for a Markdown table cell.
pub(crate) fn markdown_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            // Terminal escapes (ESC, BEL, C1 controls) never reach a reader's terminal.
            c if c.is_control() => {}
            _ => out.push(c),
        }
    }
    out
}

/// Escape text for HTML element content and double-quoted attributes.
pub(crate) fn html_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A CSV cell: a formula-looking text (`=`, `+`, `-`, `@`, tab or carriage return first, but
/// not a number) is quoted with `'` so a spreadsheet shows it rather than runs it (OWASP);
/// commas, quotes and line breaks quoted.
pub(crate) fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) && v.parse::<f64>().is_err() {
        format!("'{v}")
    } else {
        v.to_string()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_group_thousands_and_round_to_cents() {
        assert_eq!(amount(1234567.891), "1,234,567.89");
        assert_eq!(amount(-2.61), "-2.61");
        assert_eq!(amount(0.004), "0.00");
    }

    #[test]
    fn hostile_strings_are_escaped() {
        assert_eq!(markdown_cell("a|b<script>"), "a\\|b\\<script\\>");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("plain"), "plain");
    }

    #[test]
    fn identifiers_keep_their_start_and_end() {
        let arn = "arn:aws:bedrock:us-east-1:111122223333:application-inference-profile/search-rag";
        let short = shorten_middle(arn, 32);
        assert_eq!(short.chars().count(), 32);
        assert!(short.starts_with("arn:aws:b"), "{short}");
        assert!(short.ends_with("profile/search-rag"), "{short}");
        assert_eq!(shorten_middle("short", 32), "short");
        assert_eq!(shorten_middle("a\u{1b}[31mb", 32), "a[31mb");
    }
}
