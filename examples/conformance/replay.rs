pub fn run(_r: &mut crate::run::Runner, _p: &str) -> Result<(), String> {
    Err("todo".into())
}
