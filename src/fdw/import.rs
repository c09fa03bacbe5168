//! `IMPORT FOREIGN SCHEMA easycars FROM SERVER ... INTO ...`: one `CREATE FOREIGN TABLE` per
//! entity, written from the entity's own columns, so the tables match what the scans and writes
//! expect. The sync functions make their internal tables from the same text
//! (`easycars._foreign_table_ddl`).

use super::entities::{Entity, EntitySpec};
use super::error::FdwError;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use supabase_wrappers::prelude::{ImportForeignSchemaStmt, ImportSchemaType};

/// The statements `IMPORT FOREIGN SCHEMA` runs.
pub fn import_foreign_schema(stmt: &ImportForeignSchemaStmt) -> Result<Vec<String>, FdwError> {
    if stmt.remote_schema != "easycars" {
        return Err(FdwError::InvalidOption {
            name: "remote schema",
            reason: format!(
                "EasyCars offers schema \"easycars\", not \"{}\"",
                stmt.remote_schema
            ),
        });
    }
    let wanted = |e: Entity| match stmt.list_type {
        ImportSchemaType::FdwImportSchemaAll => true,
        ImportSchemaType::FdwImportSchemaLimitTo => {
            stmt.table_list.iter().any(|t| t == e.spec().name())
        }
        ImportSchemaType::FdwImportSchemaExcept => {
            !stmt.table_list.iter().any(|t| t == e.spec().name())
        }
    };
    Ok(Entity::ALL
        .into_iter()
        .filter(|e| wanted(*e))
        .map(|e| create_statement(e, &stmt.local_schema, e.spec().name(), &stmt.server_name))
        .collect())
}

/// `CREATE FOREIGN TABLE` for an entity under the table name `table`.
pub fn create_statement(entity: Entity, schema: &str, table: &str, server: &str) -> String {
    statement_for(entity.spec(), schema, table, server)
}

fn statement_for<S: EntitySpec + ?Sized>(
    spec: &S,
    schema: &str,
    table: &str,
    server: &str,
) -> String {
    let cols = spec
        .columns()
        .iter()
        .map(|c| format!("    {} {}", quote_ident(c.name), c.kind.sql_type()))
        .collect::<Vec<_>>()
        .join(",\n");
    let mut options = vec![format!("entity '{}'", spec.name())];
    if let Some(rowid) = spec.rowid_column() {
        options.push(format!("rowid_column '{rowid}'"));
    }
    format!(
        "CREATE FOREIGN TABLE {}.{} (\n{cols}\n) SERVER {} OPTIONS ({})",
        quote_ident(schema),
        quote_ident(table),
        quote_ident(server),
        options.join(", ")
    )
}

/// `quote_ident` for generated DDL: identifiers are quoted unless plain lower-case.
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}

/// `CREATE FOREIGN TABLE` text for one entity, as `IMPORT FOREIGN SCHEMA` would write it, under
/// another name; the sync functions use it for their internal per-dealership tables.
#[pg_extern(immutable, parallel_safe)]
fn _foreign_table_ddl(
    entity: &str,
    table_schema: &str,
    table_name: &str,
    server: &str,
) -> Result<String, ErrorReport> {
    let entity = Entity::from_name(entity).ok_or_else(|| FdwError::InvalidOption {
        name: "entity",
        reason: "expected stock, leads, contacts or quotations".into(),
    })?;
    Ok(create_statement(entity, table_schema, table_name, server))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdw::entities::{contacts::Contacts, leads::Leads};

    #[test]
    fn identifiers_are_quoted_unless_plain() {
        assert_eq!(quote_ident("stock"), "stock");
        assert_eq!(quote_ident("Stock"), "\"Stock\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1x"), "\"1x\"");
    }

    #[test]
    fn every_entity_declares_its_options() {
        // Statically, not through Entity::spec (see the note on the entities' tests).
        let ddl = statement_for(&Leads, "ec", "leads_d1", "Srv");
        assert!(ddl.starts_with("CREATE FOREIGN TABLE ec.leads_d1 (\n    lead_number text,\n"));
        assert!(ddl
            .ends_with("\n) SERVER \"Srv\" OPTIONS (entity 'leads', rowid_column 'lead_number')"));
        let ddl = statement_for(&Contacts, "ec", "contacts", "s");
        assert!(ddl.ends_with("    raw jsonb\n) SERVER s OPTIONS (entity 'contacts')"));
    }
}
