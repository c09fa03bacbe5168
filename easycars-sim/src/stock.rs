//! The stock list of a dealer: generated vehicles plus a mutation overlay (added items, changed
//! fields per stock number, removed stock numbers), streamed as JSON in chunks.

use crate::gen::{self, Dealer};
use crate::json::{write_pairs, write_str, write_val};
use crate::AppState;
use axum::body::Body;
use bytes::Bytes;
use easycars_api::stock_fields::STOCK_FIELDS;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One entry of a dealer's list beyond the generated base.
#[derive(Debug, Clone)]
pub enum Entry {
    /// Generated vehicle with this index.
    Gen(usize),
    /// A posted item: ordered key/value pairs.
    Custom(Arc<Vec<(String, Value)>>),
}

/// Mutations of one dealer's stock. Cloned (copy-on-write) on change, so a running stream
/// keeps the snapshot it started with.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Items added after the generated base, in order.
    pub added: Vec<Entry>,
    /// Field changes per stock number (ordered pairs; later values win).
    pub changed: HashMap<String, Vec<(String, Value)>>,
    /// Removed stock numbers.
    pub removed: HashSet<String>,
    /// Next generated index for added vehicles.
    pub next_index: usize,
}

impl Overlay {
    /// An empty overlay for a dealer with `base` generated vehicles.
    pub fn new(base: usize) -> Self {
        Overlay {
            added: Vec::new(),
            changed: HashMap::new(),
            removed: HashSet::new(),
            next_index: base,
        }
    }
}

/// What is needed to render a dealer's items.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// Seed.
    pub seed: u64,
    /// Dealer.
    pub dealer: &'a Dealer,
    /// Base URL for image links.
    pub base_url: &'a str,
    /// Image quirks on.
    pub quirks: bool,
}

impl<'a> Ctx<'a> {
    /// Build from the app state.
    pub fn of(st: &'a AppState, dealer: usize) -> Self {
        Ctx {
            seed: st.cfg.seed,
            dealer: &st.dealers[dealer],
            base_url: &st.base_url,
            quirks: st.cfg.image_quirks,
        }
    }

    /// A generated vehicle as ordered pairs.
    pub fn gen_pairs(&self, i: usize) -> Vec<(String, Value)> {
        gen::vehicle(self.seed, self.dealer, i, self.base_url, self.quirks)
            .iter()
            .zip(STOCK_FIELDS.iter())
            .map(|(v, f)| (f.json_key.to_string(), v.to_value()))
            .collect()
    }

    /// Stock number of a position (`pos < base`: generated; else `added[pos - base]`).
    pub fn stock_number(&self, ov: &Overlay, pos: usize) -> String {
        match self.entry(ov, pos) {
            Entry::Gen(i) => gen::stock_number(self.seed, self.dealer.index, i),
            Entry::Custom(p) => custom_stock_number(&p),
        }
    }

    fn entry(&self, ov: &Overlay, pos: usize) -> Entry {
        let base = self.dealer.base_vehicles;
        if pos < base {
            Entry::Gen(pos)
        } else {
            ov.added[pos - base].clone()
        }
    }

    /// Number of positions (including removed ones).
    pub fn positions(&self, ov: &Overlay) -> usize {
        self.dealer.base_vehicles + ov.added.len()
    }

    /// The position holding stock number `sn`, if it exists and is not removed.
    pub fn find(&self, ov: &Overlay, sn: &str) -> Option<usize> {
        if ov.removed.contains(sn) {
            return None;
        }
        if let Some(i) = gen::index_of_stock_number(self.seed, self.dealer.index, sn) {
            if i < self.dealer.base_vehicles {
                return Some(i);
            }
        }
        ov.added.iter().enumerate().find_map(|(k, e)| {
            let hit = match e {
                Entry::Gen(i) => gen::stock_number(self.seed, self.dealer.index, *i) == sn,
                Entry::Custom(p) => custom_stock_number(p) == sn,
            };
            hit.then_some(self.dealer.base_vehicles + k)
        })
    }

    /// The full item at a position, overlay applied.
    pub fn item(&self, ov: &Overlay, pos: usize) -> Vec<(String, Value)> {
        let mut pairs = match self.entry(ov, pos) {
            Entry::Gen(i) => self.gen_pairs(i),
            Entry::Custom(p) => (*p).clone(),
        };
        let sn = pairs
            .iter()
            .find(|(k, _)| k == "StockNumber")
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .unwrap_or_default();
        if let Some(ch) = ov.changed.get(&sn) {
            apply(&mut pairs, ch);
        }
        pairs
    }

    /// Yard code of a position, or `None` if removed. Cheap for unchanged generated items.
    fn yard_and_write(
        &self,
        ov: &Overlay,
        pos: usize,
        yard: Option<&str>,
        buf: &mut Vec<u8>,
    ) -> bool {
        let entry = self.entry(ov, pos);
        let touched = !(ov.removed.is_empty() && ov.changed.is_empty());
        if let (Entry::Gen(i), false) = (&entry, touched) {
            let y = &self.dealer.yards[gen::yard_of(self.dealer, *i)].code;
            if yard.is_some_and(|want| want != y) {
                return false;
            }
            let vals = gen::vehicle(self.seed, self.dealer, *i, self.base_url, self.quirks);
            buf.push(b'{');
            for (k, (v, f)) in vals.iter().zip(STOCK_FIELDS.iter()).enumerate() {
                if k > 0 {
                    buf.push(b',');
                }
                write_str(buf, f.json_key);
                buf.push(b':');
                write_val(buf, v);
            }
            buf.push(b'}');
            return true;
        }
        if ov.removed.contains(&self.stock_number(ov, pos)) {
            return false;
        }
        let pairs = self.item(ov, pos);
        if let Some(want) = yard {
            let y = pairs
                .iter()
                .find(|(k, _)| k == "YardCode")
                .and_then(|(_, v)| v.as_str());
            if y != Some(want) {
                return false;
            }
        }
        write_pairs(buf, &pairs);
        true
    }

    /// Live item count, total and per yard code.
    pub fn counts(&self, ov: &Overlay) -> (usize, HashMap<String, usize>) {
        let mut per: HashMap<String, usize> = HashMap::new();
        let mut total = 0;
        let touched = !(ov.removed.is_empty() && ov.changed.is_empty());
        for pos in 0..self.positions(ov) {
            let yard = match (self.entry(ov, pos), touched) {
                (Entry::Gen(i), false) => {
                    self.dealer.yards[gen::yard_of(self.dealer, i)].code.clone()
                }
                _ => {
                    if ov.removed.contains(&self.stock_number(ov, pos)) {
                        continue;
                    }
                    self.item(ov, pos)
                        .iter()
                        .find(|(k, _)| k == "YardCode")
                        .and_then(|(_, v)| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                }
            };
            total += 1;
            *per.entry(yard).or_default() += 1;
        }
        (total, per)
    }
}

/// StockNumber of a posted item.
pub fn custom_stock_number(p: &[(String, Value)]) -> String {
    p.iter()
        .find(|(k, _)| k == "StockNumber")
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Overwrite (or append) keys.
pub fn apply(pairs: &mut Vec<(String, Value)>, changes: &[(String, Value)]) {
    for (k, v) in changes {
        match pairs.iter_mut().find(|(pk, _)| pk == k) {
            Some(slot) => slot.1 = v.clone(),
            None => pairs.push((k.clone(), v.clone())),
        }
    }
}

const CHUNK: usize = 32 * 1024;

/// The streamed `GetAdvertisementStocks` body for a dealer and an optional yard filter.
pub fn body(st: Arc<AppState>, dealer: usize, ov: Arc<Overlay>, yard: Option<String>) -> Body {
    struct S {
        st: Arc<AppState>,
        ov: Arc<Overlay>,
        yard: Option<String>,
        dealer: usize,
        pos: usize,
        first: bool,
        started: bool,
        done: bool,
    }
    let init = S {
        st,
        ov,
        yard,
        dealer,
        pos: 0,
        first: true,
        started: false,
        done: false,
    };
    let stream = futures_util::stream::unfold(init, |mut s| async move {
        if s.done {
            return None;
        }
        let mut buf = Vec::with_capacity(CHUNK + 4096);
        if !s.started {
            buf.extend_from_slice(b"{\"StockList\":[");
            s.started = true;
        }
        {
            let ctx = Ctx::of(&s.st, s.dealer);
            let n = ctx.positions(&s.ov);
            while s.pos < n && buf.len() < CHUNK {
                let mark = buf.len();
                if !s.first {
                    buf.push(b',');
                }
                if ctx.yard_and_write(&s.ov, s.pos, s.yard.as_deref(), &mut buf) {
                    s.first = false;
                } else {
                    buf.truncate(mark);
                }
                s.pos += 1;
            }
            if s.pos >= n {
                buf.extend_from_slice(b"],\"Code\":0,\"ErrorMessage\":null}");
                s.done = true;
            }
        }
        Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), s))
    });
    Body::from_stream(stream)
}
