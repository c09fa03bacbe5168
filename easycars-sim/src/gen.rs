//! Deterministic generated data: dealers, yards, integrators and vehicles.
//!
//! Vehicle `i` of dealer `d` is a pure function of `(seed, d, i)` and the server's base URL, so
//! 100,000 vehicles are produced on demand while streaming instead of being held in memory.
//! Data follows EasyCars' documented stock value conventions: unset strings
//! are `""`, unset numerics `null`, `RegoExpiry` is `null` or `dd/mm/yyyy`, whole numbers carry no
//! decimals, Badge/Series sometimes end in a space, descriptions contain some unicode,
//! `StockType` is a letter code, features and image URLs are comma-joined without spaces and
//! `ImageCount` equals the number of URLs.

use crate::json::Val;
use crate::rng::{mix, Rng};
use std::borrow::Cow;

/// One yard of a dealer.
#[derive(Debug, Clone)]
pub struct Yard {
    /// `YardCode`, e.g. "100".
    pub code: String,
    /// `YardName`.
    pub name: String,
}

/// One seeded dealer with its integrator credentials.
#[derive(Debug, Clone)]
pub struct Dealer {
    /// Position in the dealer list.
    pub index: usize,
    /// Display name.
    pub name: String,
    /// `EC` + 6 digits.
    pub account_number: String,
    /// Lowercase GUID.
    pub account_secret: String,
    /// Integrator ClientID (uppercase GUID).
    pub client_id: String,
    /// Integrator ClientSecret (uppercase GUID).
    pub client_secret: String,
    /// Yards (at least one).
    pub yards: Vec<Yard>,
    /// Number of generated vehicles before mutations.
    pub base_vehicles: usize,
}

const DEALER_NAMES: &[&str] = &[
    "Harbour City Motors",
    "Westside Auto Group",
    "Blue Gum Cars",
    "Southern Cross Vehicles",
    "Koala Coast Motors",
    "Riverina Car Centre",
    "Parkes & Sons Automotive",
    "Café Corner Cars",
];

const SUBURBS: &[&str] = &[
    "Parramatta",
    "Blacktown",
    "Penrith",
    "Liverpool",
    "Chatswood",
    "Hornsby",
    "Campbelltown",
    "Gosford",
    "Wollongong",
];

/// Build the dealer list for a seed.
pub fn dealers(
    seed: u64,
    count: usize,
    vehicles: usize,
    yards: usize,
    shared_integrator: bool,
) -> Vec<Dealer> {
    let mut base_rng = Rng::new(mix(&[seed, 0xDEA1]));
    let base = 100_000 + base_rng.below(800_000u64.saturating_sub(count as u64).max(1));
    let shared = (base_rng.guid(true), base_rng.guid(true));
    (0..count)
        .map(|d| {
            let mut r = Rng::new(mix(&[seed, 0xDEA1, d as u64 + 1]));
            let name = format!(
                "{}{}",
                DEALER_NAMES[d % DEALER_NAMES.len()],
                if d >= DEALER_NAMES.len() {
                    format!(" {}", d / DEALER_NAMES.len() + 1)
                } else {
                    String::new()
                }
            );
            let account_secret = r.guid(false);
            let (client_id, client_secret) = if shared_integrator {
                shared.clone()
            } else {
                (r.guid(true), r.guid(true))
            };
            let offset = r.below(SUBURBS.len() as u64) as usize;
            let yards = (0..yards.max(1))
                .map(|y| Yard {
                    code: format!("{}", (y + 1) * 100),
                    name: format!("{} Yard", SUBURBS[(offset + y) % SUBURBS.len()]),
                })
                .collect();
            Dealer {
                index: d,
                name,
                account_number: format!("EC{:06}", base + d as u64),
                account_secret,
                client_id,
                client_secret,
                yards,
                base_vehicles: vehicles,
            }
        })
        .collect()
}

struct Spec {
    stock_type: &'static str,
    make: &'static str,
    model: &'static str,
    body: &'static str,
    badges: &'static [&'static str],
    series: &'static [&'static str],
    capacity: &'static str,
    cc: Option<f64>,
    cylinder: &'static str,
    fuel: &'static str,
    drive: &'static str,
    doors: Option<i64>,
    seats: Option<i64>,
    gear: &'static str,
    gears: Option<i64>,
    kw: Option<f64>,
    engine_type: &'static str,
    price: (i64, i64),
}

const CARS: &[Spec] = &[
    Spec {
        stock_type: "A",
        make: "TOYOTA",
        model: "HILUX",
        body: "DOUBLE CAB P/UP",
        badges: &["SR5 (4x4) ", "WORKMATE", "ROGUE (4x4)"],
        series: &["GUN126R ", "GUN126R"],
        capacity: "2.8L",
        cc: Some(2755.0),
        cylinder: "4",
        fuel: "Diesel",
        drive: "4X4",
        doors: Some(4),
        seats: Some(5),
        gear: "6 SP AUTOMATIC",
        gears: Some(6),
        kw: Some(150.0),
        engine_type: "TURBO DIESEL",
        price: (32_000, 72_000),
    },
    Spec {
        stock_type: "A",
        make: "TOYOTA",
        model: "COROLLA",
        body: "5D HATCHBACK",
        badges: &["ASCENT SPORT", "ZR ", "SX"],
        series: &["MZEA12R", ""],
        capacity: "2.0L",
        cc: Some(1987.0),
        cylinder: "4",
        fuel: "Petrol",
        drive: "FWD",
        doors: Some(5),
        seats: Some(5),
        gear: "CONTINUOUS VARIABLE",
        gears: Some(10),
        kw: Some(125.0),
        engine_type: "PETROL",
        price: (18_000, 38_000),
    },
    Spec {
        stock_type: "A",
        make: "VOLVO",
        model: "XC60",
        body: "4D WAGON",
        badges: &["T5 INSCRIPTION", "B5 MOMENTUM "],
        series: &["246 MY21 ", "246 MY22"],
        capacity: "2.0L",
        cc: Some(1969.0),
        cylinder: "TT4",
        fuel: "Petrol",
        drive: "AWD",
        doors: Some(4),
        seats: Some(5),
        gear: "8 SP AUTOMATIC GEARTRONIC",
        gears: Some(8),
        kw: Some(173.0),
        engine_type: "TWIN TURBO PETROL",
        price: (45_000, 85_000),
    },
    Spec {
        stock_type: "A",
        make: "MAZDA",
        model: "CX-5",
        body: "4D WAGON",
        badges: &["MAXX SPORT (4x2)", "GT (4x4) ", "AKERA"],
        series: &["MY22", "KF SERIES "],
        capacity: "2.5L",
        cc: Some(2488.0),
        cylinder: "4",
        fuel: "Petrol",
        drive: "AWD",
        doors: Some(4),
        seats: Some(5),
        gear: "6 SP AUTOMATIC",
        gears: Some(6),
        kw: Some(140.0),
        engine_type: "PETROL",
        price: (26_000, 52_000),
    },
    Spec {
        stock_type: "A",
        make: "HYUNDAI",
        model: "I30",
        body: "5D HATCHBACK",
        badges: &["N LINE", "ACTIVE ", "ELITE"],
        series: &["PD.V4", "PD.3 MY20 "],
        capacity: "1.6L",
        cc: Some(1591.0),
        cylinder: "4",
        fuel: "Petrol",
        drive: "FWD",
        doors: Some(5),
        seats: Some(5),
        gear: "7 SP AUTO DUAL CLUTCH",
        gears: Some(7),
        kw: Some(150.0),
        engine_type: "TURBO PETROL",
        price: (19_000, 39_000),
    },
    Spec {
        stock_type: "A",
        make: "ŠKODA",
        model: "OCTAVIA",
        body: "4D SEDAN",
        badges: &["RS", "STYLE "],
        series: &["NX MY23", ""],
        capacity: "2.0L",
        cc: Some(1984.0),
        cylinder: "4",
        fuel: "Petrol",
        drive: "FWD",
        doors: Some(4),
        seats: Some(5),
        gear: "7 SP AUTO DIRECT SHIFT",
        gears: Some(7),
        kw: Some(180.0),
        engine_type: "TURBO PETROL",
        price: (28_000, 55_000),
    },
    Spec {
        stock_type: "A",
        make: "FORD",
        model: "RANGER",
        body: "DOUBLE CAB P/UP",
        badges: &["XLT 3.2 (4x4)", "WILDTRAK ", "XL"],
        series: &["PX MKIII ", "PY"],
        capacity: "3.2L",
        cc: Some(3198.0),
        cylinder: "5",
        fuel: "Diesel",
        drive: "4X4",
        doors: Some(4),
        seats: Some(5),
        gear: "6 SP AUTOMATIC",
        gears: Some(6),
        kw: Some(147.0),
        engine_type: "TURBO DIESEL",
        price: (30_000, 75_000),
    },
    Spec {
        stock_type: "A",
        make: "KIA",
        model: "SPORTAGE",
        body: "4D WAGON",
        badges: &["SX", "GT-LINE (AWD) "],
        series: &["NQ5 MY23", ""],
        capacity: "2.0L",
        cc: Some(1999.0),
        cylinder: "4",
        fuel: "Petrol",
        drive: "FWD",
        doors: Some(4),
        seats: Some(5),
        gear: "6 SP AUTOMATIC",
        gears: Some(6),
        kw: Some(115.0),
        engine_type: "PETROL",
        price: (24_000, 50_000),
    },
    Spec {
        stock_type: "A",
        make: "TESLA",
        model: "MODEL 3",
        body: "4D SEDAN",
        badges: &["LONG RANGE", "REAR-WHEEL DRIVE"],
        series: &["MY23", ""],
        capacity: "",
        cc: None,
        cylinder: "",
        fuel: "Electric",
        drive: "RWD",
        doors: Some(4),
        seats: Some(5),
        gear: "1 SP AUTOMATIC",
        gears: Some(1),
        kw: Some(208.0),
        engine_type: "ELECTRIC",
        price: (38_000, 70_000),
    },
];

const OTHERS: &[Spec] = &[
    Spec {
        stock_type: "M",
        make: "YAMAHA",
        model: "MT-07",
        body: "NAKED",
        badges: &["LAMS", "(ABS) "],
        series: &["", "MY21"],
        capacity: "0.7L",
        cc: Some(689.0),
        cylinder: "2",
        fuel: "Petrol",
        drive: "CHAIN",
        doors: None,
        seats: Some(2),
        gear: "6 SP MANUAL",
        gears: Some(6),
        kw: Some(54.0),
        engine_type: "PETROL",
        price: (7_000, 13_000),
    },
    Spec {
        stock_type: "B",
        make: "QUINTREX",
        model: "481 TOP ENDER",
        body: "OPEN BOAT",
        badges: &["", "PRO "],
        series: &[""],
        capacity: "",
        cc: None,
        cylinder: "",
        fuel: "Petrol",
        drive: "",
        doors: None,
        seats: Some(5),
        gear: "",
        gears: None,
        kw: Some(67.0),
        engine_type: "OUTBOARD",
        price: (25_000, 45_000),
    },
    Spec {
        stock_type: "C",
        make: "JAYCO",
        model: "JOURNEY",
        body: "POP TOP",
        badges: &["OUTBACK", "17.58-3 "],
        series: &["", "MY24"],
        capacity: "",
        cc: None,
        cylinder: "",
        fuel: "",
        drive: "",
        doors: Some(1),
        seats: None,
        gear: "",
        gears: None,
        kw: None,
        engine_type: "",
        price: (45_000, 80_000),
    },
    Spec {
        stock_type: "H",
        make: "ISUZU",
        model: "NPR 45-155",
        body: "CAB CHASSIS",
        badges: &["MWB", "AMT "],
        series: &["N SERIES", ""],
        capacity: "4.5L",
        cc: Some(4570.0),
        cylinder: "4",
        fuel: "Diesel",
        drive: "RWD",
        doors: Some(2),
        seats: Some(3),
        gear: "6 SP AUTOMATED MANUAL",
        gears: Some(6),
        kw: Some(114.0),
        engine_type: "TURBO DIESEL",
        price: (60_000, 95_000),
    },
    Spec {
        stock_type: "T",
        make: "BRIANDERSON",
        model: "7X5 BOX",
        body: "BOX TRAILER",
        badges: &["", "HD "],
        series: &[""],
        capacity: "",
        cc: None,
        cylinder: "",
        fuel: "",
        drive: "",
        doors: None,
        seats: None,
        gear: "",
        gears: None,
        kw: None,
        engine_type: "",
        price: (1_500, 4_500),
    },
];

const COLOURS: &[&str] = &[
    "Glacier White",
    "Crystal Black",
    "Soul Red Crystal",
    "Silver Sky",
    "Onyx Blue",
    "Graphite Grey",
    "Bronze Mica",
];
const INTERIORS: &[&str] = &["Black", "Charcoal", "Beige", "Grey", ""];
const STATES: &[&str] = &[
    "NSW", "NSW", "NSW", "VIC", "QLD", "ACT", "SA", "WA", "TAS", "NT",
];
const STATUSES: &[&str] = &["In Stock", "In Stock", "In Stock", "On Offer", "Sold"];
const FEATURES: &[&str] = &[
    "Reversing Camera",
    "Bluetooth Connectivity",
    "Cruise Control",
    "Tow Bar",
    "Apple CarPlay",
    "Android Auto",
    "Lane Departure Warning",
    "Heated Seats",
    "Sat Nav",
    "Alloy Wheels",
    "Keyless Entry",
    "Parking Sensors",
];
const OPTIONS: &[&str] = &[
    "Sunroof",
    "Premium Paint",
    "Bull Bar",
    "Roof Racks",
    "Tinted Windows",
];
const SENTENCES: &[&str] = &[
    "One owner, full service history.",
    "Drive away today — no haggling!",
    "Immaculate condition inside and out.",
    "Finance available, trade-ins welcome.",
    "Hyundai i30 – ‘N Line’ 🚗 styling at a bargain price.",
    "Škoda-grade build quality ✔",
    "Logbook serviced; 2 keys; \"as new\" tyres.",
    "Call our café-side showroom for a test drive.",
];

/// Whether generated vehicle `i` is used (it decides the stock number prefix).
fn is_used(seed: u64, dealer: usize, i: usize) -> bool {
    mix(&[seed, dealer as u64, i as u64, 0x05ED]) % 100 < 78
}

/// The stock number of generated vehicle `i` (`U00001` used, `N00001` new).
pub fn stock_number(seed: u64, dealer: usize, i: usize) -> String {
    format!(
        "{}{:05}",
        if is_used(seed, dealer, i) { 'U' } else { 'N' },
        i + 1
    )
}

/// The generated index a stock number denotes, if it has the generator's shape.
pub fn index_of_stock_number(seed: u64, dealer: usize, sn: &str) -> Option<usize> {
    let digits = sn.get(1..)?;
    if digits.len() < 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = digits.parse().ok()?;
    let i = n.checked_sub(1)?;
    (stock_number(seed, dealer, i) == sn).then_some(i)
}

/// The yard index of generated vehicle `i`.
pub fn yard_of(dealer: &Dealer, i: usize) -> usize {
    i % dealer.yards.len()
}

fn money(r: &mut Rng, lo: i64, hi: i64) -> f64 {
    (r.range(lo / 10, hi / 10) * 10 - 10) as f64
}

/// The image URLs of vehicle `i`, with the documented quirks when `quirks` is on:
/// every 23rd vehicle (i % 23 == 5) repeats its first URL, every 29th (i % 29 == 7) has one
/// broken URL (HTTP 404).
fn image_urls(
    r: &mut Rng,
    base_url: &str,
    acct_digits: &str,
    i: usize,
    quirks: bool,
) -> Vec<String> {
    let n = r.below(5) as usize; // 0..=4
    let mut urls: Vec<String> = (0..n)
        .map(|k| {
            format!(
                "{base_url}/publicimages/image/{acct_digits}/{}/{}",
                i + 1,
                Rng::new(mix(&[r.next_u64(), k as u64])).hex(40)
            )
        })
        .collect();
    if quirks && n >= 2 && i % 23 == 5 {
        let first = urls[0].clone();
        urls.push(first);
    }
    if quirks && n >= 1 && i % 29 == 7 {
        urls.push(format!(
            "{base_url}/publicimages/missing/{acct_digits}/{}/{}",
            i + 1,
            r.hex(40)
        ));
    }
    urls
}

fn s(v: &'static str) -> Val {
    Val::S(Cow::Borrowed(v))
}

fn so(v: String) -> Val {
    Val::S(Cow::Owned(v))
}

fn opt_i(v: Option<i64>) -> Val {
    v.map(Val::I).unwrap_or(Val::Null)
}

fn opt_n(v: Option<f64>) -> Val {
    v.map(Val::N).unwrap_or(Val::Null)
}

/// Generate vehicle `i` of `dealer`: 72 values in [`easycars_api::stock_fields::STOCK_FIELDS`]
/// order.
pub fn vehicle(seed: u64, dealer: &Dealer, i: usize, base_url: &str, quirks: bool) -> Vec<Val> {
    let mut r = Rng::new(mix(&[seed, dealer.index as u64, i as u64]));
    let roll = r.below(100);
    let spec = if roll < 86 {
        r.pick(CARS)
    } else {
        &OTHERS[((roll - 86) as usize * OTHERS.len()) / 14]
    };
    let used = is_used(seed, dealer.index, i);
    let yard = &dealer.yards[yard_of(dealer, i)];
    let year = if used { r.range(2008, 2024) } else { 2025 };
    let badge = *r.pick(spec.badges);
    let series = *r.pick(spec.series);
    let price = if r.chance(5) {
        None
    } else {
        Some(money(&mut r, spec.price.0, spec.price.1))
    };
    let odometer = if used {
        Some(r.range(5_000, 250_000))
    } else if r.chance(50) {
        Some(r.range(5, 60))
    } else {
        None
    };
    let colour = *r.pick(COLOURS);
    let rego_state = *r.pick(STATES);
    let special = r.chance(12);
    let is_demo = !used && r.chance(20);
    let cars = spec.stock_type == "A";
    let caravan = spec.stock_type == "C";

    let mut desc = String::with_capacity(160);
    desc.push_str(&format!("{} {} {}", year, spec.make, spec.model));
    for k in 0..(1 + r.below(2)) {
        desc.push_str(if k == 0 { ". " } else { "\r\n" });
        desc.push_str(r.pick_str(SENTENCES));
    }
    let mut feats: Vec<&str> = Vec::new();
    if cars || spec.stock_type == "H" {
        for _ in 0..(2 + r.below(4)) {
            let f = *r.pick(FEATURES);
            if !feats.contains(&f) {
                feats.push(f);
            }
        }
    }
    let optional = if r.chance(25) {
        format!("{},{}", r.pick(OPTIONS), r.pick(OPTIONS))
    } else {
        String::new()
    };
    let acct_digits = dealer.account_number.trim_start_matches("EC");
    let urls = image_urls(&mut r, base_url, acct_digits, i, quirks);
    let rego_expiry = if used && r.chance(70) {
        so(format!(
            "{:02}/{:02}/{}",
            r.range(1, 28),
            r.range(1, 12),
            r.range(2025, 2027)
        ))
    } else {
        Val::Null
    };
    let vin = if r.chance(25) {
        Val::S(Cow::Borrowed(""))
    } else {
        const VIN: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ0123456789";
        so((0..17).map(|_| *r.pick(VIN) as char).collect())
    };
    let rego = if used && r.chance(85) {
        so(format!(
            "{}{}{}{:02}{}",
            (b'A' + r.below(26) as u8) as char,
            (b'A' + r.below(26) as u8) as char,
            (b'A' + r.below(26) as u8) as char,
            r.below(100),
            (b'A' + r.below(26) as u8) as char
        ))
    } else {
        s("")
    };
    let kw = spec.kw;
    let (gvm, gcm, tare) = match spec.stock_type {
        "C" => (Some(2350.0), None, Some(1850.0)),
        "H" => (Some(4500.0), Some(8000.0), Some(2400.0)),
        "T" => (Some(750.0), None, Some(250.0)),
        "A" if spec.body.contains("P/UP") => (Some(3050.0), Some(5850.0), Some(2110.0)),
        _ => (None, None, None),
    };

    let v = vec![
        so(yard.code.clone()),                   // YardCode
        so(yard.name.clone()),                   // YardName
        so(stock_number(seed, dealer.index, i)), // StockNumber
        s(spec.make),                            // Make
        s(spec.model),                           // Model
        s(badge),                                // Badge
        rego,                                    // RegoNum
        vin,                                     // VIN
        opt_n(price),                            // Price
        Val::I(year),                            // YearGroup
        opt_i(odometer),                         // Odometer
        s(spec.body),                            // Body
        s(colour),                               // Colour
        s(spec.capacity),                        // EngineCapacity
        s(spec.gear),                            // GearType
        s(spec.fuel),                            // FuelType
        so(desc),                                // AdvDescription
        s(series),                               // Series
        opt_n(if special {
            price.map(|p| p - 1000.0)
        } else {
            None
        }), // AdvSpecialPrice
        Val::B(is_demo),                         // IsDemo
        Val::B(special),                         // IsSpecial
        Val::B(r.chance(5)),                     // IsPrestiged
        s(spec.stock_type),                      // StockType
        Val::B(used),                            // IsUsed
        rego_expiry,                             // RegoExpiry
        if r.chance(5) {
            so(format!("https://www.youtube.com/watch?v={}", r.hex(11)))
        } else {
            s("")
        }, // VideoLink
        s(spec.drive),                           // DriveTrain
        opt_i(spec.doors),                       // DoorNum
        s(spec.cylinder),                        // Cylinder
        so([spec.model, badge.trim(), spec.capacity, spec.gear]
            .iter()
            .filter(|x| !x.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ")), // ShortDescription
        s(spec.engine_type),                     // EngineTypeDescription
        opt_n(spec.cc),                          // EngineSize
        s(r.pick_str(STATUSES)),                 // StockStatus
        opt_n(gcm),                              // GCM
        opt_n(gvm),                              // GVM
        opt_n(tare),                             // Tare
        opt_i(if caravan { Some(r.range(2, 6)) } else { None }), // SleepingCapacity
        s(if caravan { "Yes" } else { "" }),     // Toilet
        s(if caravan { "Yes" } else { "" }),     // Shower
        s(""),                                   // AirConditioning
        s(if caravan { "3 Way" } else { "" }),   // Fridge
        s(""),                                   // Stereo
        opt_i(spec.seats),                       // SeatCapacity
        s(rego_state),                           // RegoState
        s(if r.chance(10) {
            "Includes 12 months rego."
        } else {
            ""
        }), // AdditionalDescription
        if r.chance(20) {
            Val::Null
        } else {
            Val::B(r.chance(30))
        }, // IsDriveAway
        s(if cars { r.pick_str(INTERIORS) } else { "" }), // InteriorColor
        if r.chance(30) {
            so(format!("{:02}/{}", r.range(1, 12), year))
        } else {
            s("")
        }, // BuiltDate
        if r.chance(20) {
            so(format!("{:02}/{}", r.range(1, 12), year))
        } else {
            s("")
        }, // ComplianceDate
        s(""),                                   // EngineNumber
        s(""),                                   // GPS
        s(if cars {
            r.pick_str(&["16", "17", "18", "0"])
        } else {
            "0"
        }), // Wheelsize
        s(if caravan {
            "180"
        } else if spec.body.contains("P/UP") {
            "350"
        } else {
            ""
        }), // TowBallWeight
        s(if !used { "7 years / unlimited km" } else { "" }), // Warranty
        s(""),                                   // Wheels
        s(if caravan { "Single Axle" } else { "" }), // AxleConfiguration
        s(""),                                   // Location
        so(feats.join(",")),                     // StandardFeatures
        so(optional),                            // OptionalFeatures
        if cars && r.chance(60) {
            so(format!("AUVTOY{}{}", year, r.hex(6).to_uppercase()))
        } else {
            s("")
        }, // RedbookCode
        if cars && r.chance(50) {
            so(format!(
                "{}{}",
                spec.model.chars().next().unwrap_or('X'),
                r.hex(5).to_uppercase()
            ))
        } else {
            s("")
        }, // NVIC
        Val::B(spec.stock_type == "M" && r.chance(5)), // IsMiles
        opt_i(spec.gears),                       // GearCount
        opt_n(kw),                               // EnginePower
        opt_n(kw),                               // PowerkW
        opt_n(kw.map(|k| (k * 1.341 * 100.0).round() / 100.0)), // Powerhp
        s(if spec.stock_type == "B" { "YAMAHA" } else { "" }), // EngineMake
        s(""),                                   // SerialNumber
        opt_n(if caravan {
            Some(6.4)
        } else if spec.stock_type == "B" {
            Some(4.81)
        } else {
            None
        }), // Length
        Val::B(r.chance(3)),                     // IsDepositTaken
        Val::I(urls.len() as i64),               // ImageCount
        so(urls.join(",")),                      // ImageURLs
    ];
    debug_assert_eq!(v.len(), 72);
    v
}

/// A small valid JPEG (16x16, 543 bytes) with a JPEG comment holding `tag` inserted after
/// the SOI marker, so every image URL has distinct bytes.
pub fn jpeg(tag: &str) -> Vec<u8> {
    const BASE: &[u8] = include_bytes!("../assets/tiny.jpg");
    let tag = &tag.as_bytes()[..tag.len().min(60_000)];
    let mut out = Vec::with_capacity(BASE.len() + tag.len() + 4);
    out.extend_from_slice(&BASE[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&((tag.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(tag);
    out.extend_from_slice(&BASE[2..]);
    out
}
