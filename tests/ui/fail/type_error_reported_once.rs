use keychain_metrics::instrument_op;

struct Store {
    data: Vec<u8>,
}

impl Store {
    // A type error in the body is reported once, at the user's expression, in sync and
    // async functions alike.
    #[instrument_op(Get, backend = "pkcs8")]
    fn get(&self) -> Result<&str, ()> {
        if self.data.is_empty() {
            return Ok(&self.data);
        }
        Ok("key")
    }

    #[instrument_op(Get, backend = "pkcs8")]
    async fn get_async(&self) -> Result<&str, ()> {
        if self.data.is_empty() {
            return Ok(&self.data);
        }
        Ok("key")
    }
}

fn main() {}
