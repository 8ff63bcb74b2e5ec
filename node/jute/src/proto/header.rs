//! Request and reply headers: every frame after the handshake starts with one.

jute_record! {
    /// Precedes every request body.
    pub struct RequestHeader {
        pub xid: i32,
        pub op_type: i32,
    }
}

jute_record! {
    /// Precedes every reply body; `err` is an [`crate::codes::ErrorCode`] value.
    pub struct ReplyHeader {
        pub xid: i32,
        pub zxid: i64,
        pub err: i32,
    }
}

jute_record! {
    /// A reply body carrying only an error code (addWatch's reply, multi error results).
    pub struct ErrorResponse {
        pub err: i32,
    }
}
