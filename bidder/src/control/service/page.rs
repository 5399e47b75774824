//! Pages of a list: which rows were asked for ([`Page`], a keyset cursor
//! and a size) and what a list returns ([`ListPage`], the rows and the
//! cursor of the next page).
//!
//! Knows nothing of query strings; the adapters parse and bound the page
//! a client asks for.

use serde::Serialize;

pub use crate::store::Page;

/// One page of a list: the rows and the cursor for the next page (`None`
/// on the last one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListPage<T> {
    /// The rows, in id order.
    pub items: Vec<T>,
    /// Pass as `after` to get the next page.
    pub next_after: Option<i64>,
}

/// Builds the page from up to `limit + 1` rows: the extra row, if present,
/// only proves there is a next page.
pub(super) fn page_of<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> ListPage<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_after = if more { rows.last().map(&id) } else { None };
    ListPage {
        items: rows,
        next_after,
    }
}

/// The page to ask the store for: one row more than the caller wants.
pub(super) fn lookahead(page: Page) -> Page {
    Page {
        after: page.after,
        limit: page.limit + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_follow() {
        let p = page_of(vec![1, 2, 3], 2, |x| *x as i64);
        assert_eq!((p.items, p.next_after), (vec![1, 2], Some(2)));
        let p = page_of(vec![1, 2], 2, |x| *x as i64);
        assert_eq!((p.items, p.next_after), (vec![1, 2], None));
    }
}
