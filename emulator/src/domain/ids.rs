//! Identifiers in the shapes AWS uses.

use rand::Rng;

/// A random (version 4) UUID from the thread's generator: `Uuid::new_v4`
/// asks the kernel for every one, a system call on each request.
fn v4() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::rng().random()).into_uuid()
}

/// A task id: 32 lowercase hex digits.
pub fn task_id() -> String {
    v4().simple().to_string()
}

/// A container's runtime id in Fargate's shape, `<taskId>-<10 digits>`. It is
/// also the id in the container's metadata URI, so it must exist before the
/// Docker container does.
pub fn runtime_id(task_id: &str) -> String {
    let n: u32 = rand::rng().random_range(1_000_000_000..=u32::MAX);
    format!("{task_id}-{n}")
}

/// An ENI id, `eni-` and 17 hex digits.
pub fn eni_id() -> String {
    let n: u128 = rand::rng().random();
    format!("eni-{:017x}", n & 0x1_ffff_ffff_ffff_ffff)
}

pub fn uuid() -> String {
    v4().to_string()
}

/// A MAC address in the locally administered range.
pub fn mac_address() -> String {
    let b: [u8; 5] = rand::rng().random();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[0], b[1], b[2], b[3], b[4]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let t = task_id();
        assert_eq!(t.len(), 32);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let r = runtime_id(&t);
        let (a, b) = r.split_once('-').unwrap();
        assert_eq!(a, t);
        assert_eq!(b.len(), 10);
        assert!(b.chars().all(|c| c.is_ascii_digit()));
        let e = eni_id();
        assert_eq!(e.len(), 4 + 17);
        assert_eq!(mac_address().len(), 17);
        let u = uuid::Uuid::parse_str(&uuid()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(uuid(), uuid());
    }
}
