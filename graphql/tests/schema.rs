//! `graphql/schema.graphql` is the schema's published text: this test fails when the code and
//! the file drift apart. After a deliberate change, regenerate the file with
//! `SILKLINE_WRITE_SCHEMA=1 cargo test -p graphql --test integration -- schema::` and commit it.

use std::path::Path;

#[test]
fn schema_file_matches_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let sdl = graphql::schema_sdl();
    if std::env::var_os("SILKLINE_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
    }
    let file = std::fs::read_to_string(&path).expect("graphql/schema.graphql exists");
    assert!(
        file == sdl,
        "graphql/schema.graphql differs from the schema the code builds; if the change is \
         deliberate, run `SILKLINE_WRITE_SCHEMA=1 cargo test -p graphql --test integration -- schema::` and \
         commit the file"
    );
}
