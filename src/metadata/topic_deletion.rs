//! Which topics of a DeleteTopics request are deleted, by the rules of
//! Kafka 4.4's controller (`ControllerApis.deleteTopics`), shared by a
//! single node's controller and a cluster's.
//!
//! Kafka refuses what is ambiguous rather than picking one reading of it,
//! and then deletes nothing it names: a name asked twice, an id asked twice,
//! and a topic asked once by name and once by id. The request's other
//! topics are deleted as usual. Rows with neither or both of a name and an
//! id never reach a controller: the handler answers them from the request.

use crate::protocol::error_code;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// A topic of a DeleteTopics request, as its controller gets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Asked<'a> {
    /// By name.
    Name(&'a str),
    /// By id.
    Id(Uuid),
}

/// What becomes of one asked topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Deleted: the topic's id.
    Delete(Uuid),
    /// No topic has the name.
    UnknownName,
    /// No topic has the id.
    UnknownId,
    /// The same name, or the same id, asked more than once: nothing is
    /// deleted for it (INVALID_REQUEST).
    Duplicate,
    /// The topic asked by name and by id in the same request (the topic's
    /// id): not deleted (INVALID_REQUEST). Kafka answers its name's row and
    /// leaves its id's out.
    AskedByNameAndId(Uuid),
}

impl Verdict {
    /// The verdict's Kafka error code.
    pub fn error_code(self) -> i16 {
        match self {
            Verdict::Delete(_) => error_code::NONE,
            Verdict::UnknownName => error_code::UNKNOWN_TOPIC_OR_PARTITION,
            Verdict::UnknownId => error_code::UNKNOWN_TOPIC_ID,
            Verdict::Duplicate | Verdict::AskedByNameAndId(_) => error_code::INVALID_REQUEST,
        }
    }
}

/// The verdict on each of `asked`, in order: `id_of_name` and `id_known`
/// look topics up in the controller's table as it is before the deletion.
///
/// As Kafka's: a repeat is judged before a look-up (a name asked twice is
/// a duplicate whether or not it exists), a name asked twice is left out of
/// the by-name-and-by-id check (its id, asked too, deletes the topic), and
/// an id asked twice still keeps a name that maps to it from deleting.
pub fn judge(
    asked: &[Asked<'_>],
    id_of_name: impl Fn(&str) -> Option<Uuid>,
    id_known: impl Fn(Uuid) -> bool,
) -> Vec<Verdict> {
    let repeated = repeated(asked);
    let ids_asked: BTreeSet<Uuid> = asked.iter().filter_map(id_of).collect();
    let by_name = |name: &str| match id_of_name(name) {
        None => Verdict::UnknownName,
        Some(id) if ids_asked.contains(&id) => Verdict::AskedByNameAndId(id),
        Some(id) => Verdict::Delete(id),
    };
    let named: BTreeMap<&str, Verdict> = asked
        .iter()
        .filter(|topic| !repeated.contains(topic))
        .filter_map(|topic| match topic {
            Asked::Name(name) => Some((*name, by_name(name))),
            Asked::Id(_) => None,
        })
        .collect();
    // The ids that a name asked once maps to: those topics stay.
    let also_named: BTreeSet<Uuid> = named
        .values()
        .filter_map(|verdict| match verdict {
            Verdict::AskedByNameAndId(id) => Some(*id),
            _ => None,
        })
        .collect();
    asked
        .iter()
        .map(|topic| match topic {
            _ if repeated.contains(topic) => Verdict::Duplicate,
            Asked::Name(name) => named.get(name).copied().unwrap_or(Verdict::UnknownName),
            Asked::Id(id) if !id_known(*id) => Verdict::UnknownId,
            Asked::Id(id) if also_named.contains(id) => Verdict::AskedByNameAndId(*id),
            Asked::Id(id) => Verdict::Delete(*id),
        })
        .collect()
}

fn id_of(topic: &Asked<'_>) -> Option<Uuid> {
    match topic {
        Asked::Id(id) => Some(*id),
        Asked::Name(_) => None,
    }
}

/// The topics asked more than once the same way (a name twice, an id twice).
fn repeated<'a>(asked: &[Asked<'a>]) -> BTreeSet<Asked<'a>> {
    let mut seen = BTreeSet::new();
    asked
        .iter()
        .filter(|topic| !seen.insert(**topic))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Uuid = Uuid::from_u128(1);
    const B: Uuid = Uuid::from_u128(2);
    const MISSING: Uuid = Uuid::from_u128(9);

    /// Topics "a" (id A) and "b" (id B).
    fn judged(asked: &[Asked<'_>]) -> Vec<Verdict> {
        let id_of_name = |name: &str| match name {
            "a" => Some(A),
            "b" => Some(B),
            _ => None,
        };
        judge(asked, id_of_name, |id| id == A || id == B)
    }

    #[test]
    fn distinct_topics_are_deleted_or_unknown() {
        let asked = [
            Asked::Name("a"),
            Asked::Id(B),
            Asked::Name("x"),
            Asked::Id(MISSING),
        ];
        let expected = [
            Verdict::Delete(A),
            Verdict::Delete(B),
            Verdict::UnknownName,
            Verdict::UnknownId,
        ];
        assert_eq!(judged(&asked), expected);
    }

    #[test]
    fn a_name_or_an_id_asked_twice_deletes_nothing_of_it() {
        let asked = [
            Asked::Name("a"),
            Asked::Name("a"),
            Asked::Id(B),
            Asked::Id(B),
        ];
        assert_eq!(judged(&asked), [Verdict::Duplicate; 4]);
        let missing = [
            Asked::Name("x"),
            Asked::Name("x"),
            Asked::Id(MISSING),
            Asked::Id(MISSING),
        ];
        assert_eq!(judged(&missing), [Verdict::Duplicate; 4]);
    }

    #[test]
    fn a_topic_by_name_and_by_id_is_kept_in_either_order() {
        let both = Verdict::AskedByNameAndId(A);
        assert_eq!(judged(&[Asked::Name("a"), Asked::Id(A)]), [both, both]);
        assert_eq!(judged(&[Asked::Id(A), Asked::Name("a")]), [both, both]);
    }

    #[test]
    fn a_name_of_an_id_asked_twice_is_kept_and_a_name_asked_twice_leaves_its_id_alone() {
        let asked = [Asked::Id(A), Asked::Name("a"), Asked::Id(A)];
        let expected = [
            Verdict::Duplicate,
            Verdict::AskedByNameAndId(A),
            Verdict::Duplicate,
        ];
        assert_eq!(judged(&asked), expected);
        let asked = [Asked::Name("b"), Asked::Id(B), Asked::Name("b")];
        let expected = [Verdict::Duplicate, Verdict::Delete(B), Verdict::Duplicate];
        assert_eq!(judged(&asked), expected);
    }
}
