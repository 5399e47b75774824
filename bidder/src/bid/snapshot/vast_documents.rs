//! VAST documents parsed for one snapshot, kept for the next: each with
//! its trackers placed and what a player needs of it read
//! ([`ParsedVast`]).
//!
//! The snapshot is rebuilt on every catalog change and, while reactions
//! arrive, every `learning_republish_ms`. Placing the trackers in a VAST
//! document and reading it means parsing it (about 6 us each for a 1 KB
//! inline ad), and a document that does not parse is worth one warning,
//! not one per rebuild. So a build takes each document from the last build
//! when the creative is the same version, and parses only what is new.
//!
//! Cold path only, one build at a time: the bid path reads the parsed
//! pieces through the snapshot and never sees this cache.

use std::collections::HashMap;
use std::sync::Arc;

use super::trackers::{Tracked, Trackers};
use crate::model::{CampaignId, Creative};
use crate::vast::{self, Read};

/// A VAST document as the bid path serves it.
#[derive(Debug)]
pub struct ParsedVast {
    /// The document with its tracker (and version) holes.
    pub tracked: Tracked,
    /// What a player needs of it, as the document says.
    pub read: Read,
}

/// What the pieces of a document depend on: the campaign and creative ids
/// are in its trackers, the version stands for its text. (The public URL,
/// the trackers' other part, is the process's.)
type Key = (CampaignId, i64, i64);

/// Parsed documents by creative version; `None` for one that does not
/// parse.
#[derive(Debug, Default)]
pub struct Documents {
    /// From the last build.
    kept: HashMap<Key, Option<Arc<ParsedVast>>>,
    /// Used by this build: what the next build will find.
    used: HashMap<Key, Option<Arc<ParsedVast>>>,
    /// Documents parsed, over the cache's life.
    parsed: u64,
}

impl Documents {
    /// `document` of `creative` with `trackers` placed, and read, parsed
    /// unless the last build had this version; `None` (and one warning) if
    /// it does not parse.
    pub fn vast(
        &mut self,
        creative: &Creative,
        document: &str,
        trackers: Trackers<'_>,
    ) -> Option<Arc<ParsedVast>> {
        let key = (creative.campaign_id, creative.id.0, creative.version);
        let tracked = match self.kept.remove(&key) {
            Some(kept) => kept,
            None => {
                self.parsed += 1;
                let parsed = Tracked::vast(document, trackers)
                    .map(|tracked| (tracked, vast::read(document).unwrap_or_default()));
                match parsed {
                    Ok((tracked, read)) => Some(Arc::new(ParsedVast { tracked, read })),
                    // Only documents stored before uploads were parsed can
                    // get here (broken XML, or a DTD the parser refuses).
                    // No player could play one, so it never bids.
                    Err(e) => {
                        tracing::warn!(
                            campaign = creative.campaign_id.0,
                            creative = creative.id.0,
                            "VAST creative not served: its document does not parse ({e})"
                        );
                        None
                    }
                }
            }
        };
        self.used.insert(key, tracked.clone());
        tracked
    }

    /// Ends a build: what it used is kept for the next, the rest (deleted
    /// creatives, old versions) is dropped.
    pub fn finish_build(&mut self) {
        self.kept = std::mem::take(&mut self.used);
    }

    /// Ends a patch that compiled again the campaigns `ids` (sorted):
    /// keeps what this build used, and what earlier builds parsed for
    /// every other campaign.
    pub fn finish_patch(&mut self, ids: &[CampaignId]) {
        self.kept
            .retain(|key, _| ids.binary_search(&key.0).is_err());
        self.kept.extend(self.used.drain());
    }

    /// How many documents were parsed, over the cache's life.
    pub fn parsed(&self) -> u64 {
        self.parsed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreativeId, CreativeStatus, UnixTime};
    use creative::{FixedCreative, VastCreative};

    const TRACKERS: Trackers<'static> = Trackers {
        impression: "http://b.test/events/imp?stage=",
        click: "http://b.test/events/click?cid=1&crid=5&stage=",
        click_ping: "http://b.test/events/clicktrack?cid=1&crid=5&stage=",
    };

    fn vast(version: i64, document: &str) -> Creative {
        Creative {
            id: CreativeId(5),
            campaign_id: CampaignId(1),
            name: "v".into(),
            status: CreativeStatus::Active,
            body: FixedCreative::Vast(VastCreative {
                document: document.into(),
                duration_secs: 15,
                mimes: vec!["video/mp4".into()],
                w: 640,
                h: 360,
                plcmt: Vec::new(),
                versions: Vec::new(),
            }),
            version,
            created_at: UnixTime(0),
            updated_at: UnixTime(0),
        }
    }

    fn document(c: &Creative) -> &str {
        match &c.body {
            FixedCreative::Vast(v) => &v.document,
            _ => unreachable!("a VAST creative"),
        }
    }

    const INLINE: &str = r#"<VAST version="4.2"><Ad id="1"><InLine><AdSystem>a</AdSystem><AdTitle>t</AdTitle><Impression><![CDATA[https://a.example/i]]></Impression><Creatives><Creative><Linear><Duration>00:00:15</Duration><MediaFiles><MediaFile delivery="progressive" type="video/mp4" width="640" height="360"><![CDATA[https://a.example/v.mp4]]></MediaFile></MediaFiles></Linear></Creative></Creatives></InLine></Ad></VAST>"#;

    #[test]
    fn a_document_is_parsed_once_per_version_and_shared_between_builds() {
        let mut docs = Documents::default();
        let v1 = vast(1, INLINE);
        let first = docs.vast(&v1, document(&v1), TRACKERS).expect("parses");
        docs.finish_build();
        let again = docs.vast(&v1, document(&v1), TRACKERS).expect("kept");
        docs.finish_build();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(docs.parsed(), 1);
        // A new version is a new text: parsed again.
        let v2 = vast(2, &INLINE.replace("a.example/v.mp4", "a.example/w.mp4"));
        let second = docs.vast(&v2, document(&v2), TRACKERS).expect("parses");
        assert!(!Arc::ptr_eq(&first, &second));
        assert_eq!(docs.parsed(), 2);
    }

    #[test]
    fn a_document_that_does_not_parse_is_tried_once_not_at_every_build() {
        let mut docs = Documents::default();
        let broken = vast(1, "<VAST><Ad><InLine></Ad></VAST>");
        for _ in 0..3 {
            assert!(docs.vast(&broken, document(&broken), TRACKERS).is_none());
            docs.finish_build();
        }
        assert_eq!(docs.parsed(), 1);
    }

    #[test]
    fn what_a_build_did_not_use_is_forgotten() {
        let mut docs = Documents::default();
        let v1 = vast(1, INLINE);
        docs.vast(&v1, document(&v1), TRACKERS);
        docs.finish_build();
        // A build without it (the creative paused or deleted), then one
        // with it again: parsed anew, nothing kept meanwhile.
        docs.finish_build();
        assert!(docs.kept.is_empty());
        docs.vast(&v1, document(&v1), TRACKERS);
        assert_eq!(docs.parsed(), 2);
    }
}
