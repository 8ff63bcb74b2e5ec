//! A zxid is the epoch in its high 32 bits and a counter in the low 32 (`ZxidUtils`).

pub fn epoch(zxid: i64) -> i64 {
    zxid >> 32
}

pub fn counter(zxid: i64) -> i64 {
    zxid & 0xffff_ffff
}

pub fn make(epoch: i64, counter: i64) -> i64 {
    (epoch << 32) | (counter & 0xffff_ffff)
}

/// `ZxidUtils.zxidToString`: hex without `0x`.
pub fn to_string(zxid: i64) -> String {
    format!("{:x}", zxid as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let z = make(5, 3);
        assert_eq!((epoch(z), counter(z)), (5, 3));
        assert_eq!(to_string(z), "500000003");
    }
}
