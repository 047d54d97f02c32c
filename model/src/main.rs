//! Model checker for the e2ee-backup vault protocol (placeholder until the model lands).
fn main() {
    println!("e2ee-backup-model: the stateright model checker is not built yet.");
}
