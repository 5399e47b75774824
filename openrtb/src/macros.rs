//! The OpenRTB substitution macros an exchange replaces in notice URLs and
//! markup, and [`expand`], which does the same (for tests, tools and the
//! event endpoints that receive them).

/// Id of the bid request (`BidRequest.id`).
pub const AUCTION_ID: &str = "${AUCTION_ID}";
/// Id of the bid (`Bid.id`).
pub const AUCTION_BID_ID: &str = "${AUCTION_BID_ID}";
/// Id of the impression (`Imp.id`).
pub const AUCTION_IMP_ID: &str = "${AUCTION_IMP_ID}";
/// Id of the bidder seat (`SeatBid.seat`).
pub const AUCTION_SEAT_ID: &str = "${AUCTION_SEAT_ID}";
/// Id of the ad markup (`Bid.adid`).
pub const AUCTION_AD_ID: &str = "${AUCTION_AD_ID}";
/// Clearing price, in `AUCTION_CURRENCY`.
pub const AUCTION_PRICE: &str = "${AUCTION_PRICE}";
/// Currency of the clearing price.
pub const AUCTION_CURRENCY: &str = "${AUCTION_CURRENCY}";
/// Market bid ratio: clearing price / bid price.
pub const AUCTION_MBR: &str = "${AUCTION_MBR}";
/// Loss reason code, in loss notices.
pub const AUCTION_LOSS: &str = "${AUCTION_LOSS}";
/// Lowest bid that would have won, in loss notices.
pub const AUCTION_MIN_TO_WIN: &str = "${AUCTION_MIN_TO_WIN}";

/// Values to substitute; `None` leaves its macro in place.
#[derive(Debug, Clone, Copy, Default)]
pub struct MacroValues<'a> {
    /// `${AUCTION_ID}`.
    pub auction_id: Option<&'a str>,
    /// `${AUCTION_BID_ID}`.
    pub bid_id: Option<&'a str>,
    /// `${AUCTION_IMP_ID}`.
    pub imp_id: Option<&'a str>,
    /// `${AUCTION_SEAT_ID}`.
    pub seat_id: Option<&'a str>,
    /// `${AUCTION_AD_ID}`.
    pub ad_id: Option<&'a str>,
    /// `${AUCTION_PRICE}`.
    pub price: Option<&'a str>,
    /// `${AUCTION_CURRENCY}`.
    pub currency: Option<&'a str>,
    /// `${AUCTION_MBR}`.
    pub mbr: Option<&'a str>,
    /// `${AUCTION_LOSS}`.
    pub loss: Option<&'a str>,
    /// `${AUCTION_MIN_TO_WIN}`.
    pub min_to_win: Option<&'a str>,
}

impl MacroValues<'_> {
    fn value_of(&self, name: &str) -> Option<&str> {
        match name {
            "AUCTION_ID" => self.auction_id,
            "AUCTION_BID_ID" => self.bid_id,
            "AUCTION_IMP_ID" => self.imp_id,
            "AUCTION_SEAT_ID" => self.seat_id,
            "AUCTION_AD_ID" => self.ad_id,
            "AUCTION_PRICE" => self.price,
            "AUCTION_CURRENCY" => self.currency,
            "AUCTION_MBR" => self.mbr,
            "AUCTION_LOSS" => self.loss,
            "AUCTION_MIN_TO_WIN" => self.min_to_win,
            _ => None,
        }
    }
}

/// Appends `template` to `out` with every known macro that has a value
/// replaced, in one pass. Unknown macros, macros without a value, and
/// encoded variants such as `${AUCTION_PRICE:B64}` (encrypted prices) are
/// copied unchanged.
pub fn expand(template: &str, values: &MacroValues<'_>, out: &mut String) {
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match values.value_of(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(template: &str, values: MacroValues<'_>) -> String {
        let mut out = String::new();
        expand(template, &values, &mut out);
        out
    }

    #[test]
    fn known_macros_with_values_are_replaced() {
        let v = MacroValues {
            auction_id: Some("a1"),
            price: Some("1.25"),
            currency: Some("EUR"),
            ..MacroValues::default()
        };
        assert_eq!(
            run(
                "https://x/win?a=${AUCTION_ID}&p=${AUCTION_PRICE}&c=${AUCTION_CURRENCY}",
                v
            ),
            "https://x/win?a=a1&p=1.25&c=EUR"
        );
    }

    #[test]
    fn macros_without_value_unknown_or_encoded_are_left_alone() {
        let v = MacroValues {
            price: Some("9"),
            ..MacroValues::default()
        };
        let t = "l=${AUCTION_LOSS}&x=${NOT_A_MACRO}&e=${AUCTION_PRICE:B64}&p=${AUCTION_PRICE}&open=${AUCTION";
        assert_eq!(
            run(t, v),
            "l=${AUCTION_LOSS}&x=${NOT_A_MACRO}&e=${AUCTION_PRICE:B64}&p=9&open=${AUCTION"
        );
    }

    #[test]
    fn every_spec_macro_is_recognised() {
        let v = MacroValues {
            auction_id: Some("1"),
            bid_id: Some("2"),
            imp_id: Some("3"),
            seat_id: Some("4"),
            ad_id: Some("5"),
            price: Some("6"),
            currency: Some("7"),
            mbr: Some("8"),
            loss: Some("9"),
            min_to_win: Some("10"),
        };
        let all = [
            AUCTION_ID,
            AUCTION_BID_ID,
            AUCTION_IMP_ID,
            AUCTION_SEAT_ID,
            AUCTION_AD_ID,
            AUCTION_PRICE,
            AUCTION_CURRENCY,
            AUCTION_MBR,
            AUCTION_LOSS,
            AUCTION_MIN_TO_WIN,
        ]
        .join("|");
        assert_eq!(run(&all, v), "1|2|3|4|5|6|7|8|9|10");
    }
}
