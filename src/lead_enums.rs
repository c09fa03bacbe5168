//! EasyCars lead enums for SQL: codes and labels come from `easycars_api::wire` alone, so the
//! FDW's `_label` columns, the lead table's CHECK lists (tested against `_enum_labels`) and the
//! push codes can never disagree.

use easycars_api::wire::{FinanceStatus, LeadStatus, Rating, VehicleInterest, VehicleType};
use pgrx::prelude::*;

/// The labels and codes of one enum, by the kind name SQL uses.
fn table(kind: &str) -> Option<Vec<(&'static str, i32)>> {
    fn pairs<T: Copy>(
        all: &[T],
        label: fn(T) -> &'static str,
        code: fn(T) -> i32,
    ) -> Vec<(&'static str, i32)> {
        all.iter().map(|v| (label(*v), code(*v))).collect()
    }
    Some(match kind {
        "interest" => pairs(
            VehicleInterest::ALL,
            VehicleInterest::label,
            VehicleInterest::code,
        ),
        "rating" => pairs(Rating::ALL, Rating::label, Rating::code),
        "finance" => pairs(
            FinanceStatus::ALL,
            FinanceStatus::label,
            FinanceStatus::code,
        ),
        "vehicle_type" => pairs(VehicleType::ALL, VehicleType::label, VehicleType::code),
        "status" => pairs(LeadStatus::ALL, local_status, LeadStatus::code),
        _ => return None,
    })
}

/// `lead.status` in our vocabulary (the seed's): EasyCars' "In Progress" is `in_progress`.
fn local_status(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::New => "new",
        LeadStatus::InProgress => "in_progress",
        LeadStatus::Won => "won",
        LeadStatus::Lost => "lost",
        LeadStatus::Deleted => "deleted",
    }
}

/// EasyCars code of a lead label (VehicleInterest, Rating, FinanceStatus, VehicleType), or NULL.
#[pg_extern(immutable, parallel_safe)]
fn _enum_code(p_kind: Option<&str>, p_label: Option<&str>) -> Option<i32> {
    let label = p_label?;
    table(p_kind?)?
        .into_iter()
        .find(|(l, _)| *l == label)
        .map(|(_, code)| code)
}

/// `lead.status` as EasyCars LeadStatus (new 10, in_progress 30, won 50, lost 60, deleted 90).
#[pg_extern(immutable, parallel_safe)]
fn _lead_status_code(p_status: Option<&str>) -> Option<i32> {
    _enum_code(Some("status"), p_status)
}

/// The labels of a lead enum in code order (kinds: interest, rating, finance, vehicle_type,
/// status); what the lead table's CHECK constraints must list.
#[pg_extern(immutable, parallel_safe)]
fn _enum_labels(kind: &str) -> Vec<String> {
    table(kind)
        .unwrap_or_default()
        .into_iter()
        .map(|(label, _)| label.to_owned())
        .collect()
}
