//! The reconfig request (`zookeeper.jute` `ReconfigRequest`, opcode 16): an incremental
//! change (joining servers, leaving ids, each comma-separated) or a bulk one (new members),
//! from the configuration version `curConfigId` (-1: any). Each string is a nullable
//! ustring; a null one is absent. Its response is a `GetDataResponse` of
//! `/zookeeper/config`.

jute_record! {
    pub struct ReconfigRequest {
        pub joining_servers: Option<String>,
        pub leaving_servers: Option<String>,
        pub new_members: Option<String>,
        pub cur_config_id: i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;
    use crate::{InputArchive, OutputArchive};

    #[test]
    fn bytes_as_zookeeper_writes_them() {
        let r = ReconfigRequest {
            joining_servers: None,
            leaving_servers: Some("3".into()),
            new_members: None,
            cur_config_id: 0x1_0000_0002,
        };
        let mut a = OutputArchive::new();
        r.write(&mut a);
        let bytes = a.into_inner();
        let want: Vec<u8> = [
            &(-1i32).to_be_bytes()[..],
            &1i32.to_be_bytes(),
            b"3",
            &(-1i32).to_be_bytes(),
            &0x1_0000_0002i64.to_be_bytes(),
        ]
        .concat();
        assert_eq!(bytes, want);
        assert_eq!(ReconfigRequest::read(&mut InputArchive::new(&bytes, 1 << 20)).unwrap(), r);
        // A length beyond the bound is refused, not allocated.
        let long = [&5000i32.to_be_bytes()[..], &[b'x'; 16]].concat();
        assert!(ReconfigRequest::read(&mut InputArchive::new(&long, 1024)).is_err());
    }
}
