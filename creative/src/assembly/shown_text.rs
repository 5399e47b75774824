//! The lines a creative shows that no fragment holds as written: the tag
//! line (the offer meant for the stage, else the product with its price),
//! a price as people write it, and whether the offer shows at all
//! ([`shows_offer`], which also sets the `crid` apart).
//!
//! Plain text only: never escapes (each markup escapes for its own
//! context) and never checks a format's limits.

use std::fmt::Write as _;

use audiences::Stage;
use openrtb::{Currency, Micros};

use crate::fragment::Content;
use crate::template::Format;

/// The line a layout's tag box shows at `stage`: the offer where it is
/// meant for that stage, else the product with its price.
pub fn tag_text(c: &Content, stage: Stage) -> Option<String> {
    c.offer_at(stage)
        .map(str::to_owned)
        .or_else(|| c.product.as_ref().map(product_line))
}

/// `Name · $129.00`.
pub fn product_line(p: &crate::fragment::Product) -> String {
    let mut s = p.name.clone();
    s.push_str(" · ");
    price_text(p.price_micros, p.currency, &mut s);
    s
}

/// A price for people: symbol and two decimals (none for JPY/KRW).
pub fn price_text(price: Micros, cur: Currency, out: &mut String) {
    let code = cur.as_str();
    let symbol = match code {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        _ => "",
    };
    let micros = price.0.max(0);
    let (units, frac) = (micros / 1_000_000, micros % 1_000_000);
    out.push_str(symbol);
    if matches!(code, "JPY" | "KRW") {
        grouped(units + i64::from(frac >= 500_000), out);
    } else {
        let cents = (frac + 5_000) / 10_000;
        grouped(units + cents / 100, out);
        let _ = write!(out, ".{:02}", cents % 100);
    }
    if symbol.is_empty() {
        out.push(' ');
        out.push_str(code);
    }
}

/// `n` with thousands separated by commas: `1,249`.
fn grouped(n: i64, out: &mut String) {
    let digits = n.to_string();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
}

/// Whether the offer shows in `format` at `stage` (part of the `crid`: the
/// ad with the offer is a different ad).
pub fn shows_offer(format: Format, stage: Stage, c: &Content) -> bool {
    c.offer_at(stage).is_some() && format.limits().tag.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_as_people_write_them() {
        let text = |m: i64, cur: &str| {
            let mut s = String::new();
            price_text(Micros(m), Currency::parse(cur).unwrap(), &mut s);
            s
        };
        assert_eq!(text(129_000_000, "USD"), "$129.00");
        assert_eq!(text(9_995_000, "EUR"), "€10.00");
        assert_eq!(text(1_499_000_000, "JPY"), "¥1,499");
        assert_eq!(text(5_250_000, "CHF"), "5.25 CHF");
        assert_eq!(text(1_249_000_000, "USD"), "$1,249.00");
        assert_eq!(text(1_234_567_890_000, "GBP"), "£1,234,567.89");
        assert_eq!(text(999_995_000, "USD"), "$1,000.00");
    }
}
