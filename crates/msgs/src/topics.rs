//! Topic keys: `striatum/@v1/<robot_id>/<node>/<stream>`, built and parsed only here.
//!
//! The verbatim chunk `@v1` versions the schema: Zenoh's `**` never matches a verbatim chunk,
//! so a subscriber to `striatum/**` does not receive messages of another schema version by
//! accident; patterns here always spell `@v1` out.

use std::fmt;
use std::marker::PhantomData;

use crate::message::Message;

/// The key prefix of this schema version.
pub const PREFIX: &str = "striatum/@v1";

/// Names of the streams the stack uses, with the message type each carries.
pub mod streams {
    /// [`crate::MultiViewFrame`] from cameras.
    pub const FRAMES: &str = "frames";
    /// [`crate::JointState`] of the arm.
    pub const JOINT_STATE: &str = "joint_state";
    /// [`crate::EndEffectorState`] of the arm.
    pub const EE_STATE: &str = "ee_state";
    /// [`crate::ActionCommand`] to the arm.
    pub const ACTION: &str = "action";
    /// [`crate::ProgressReward`] from the reward model.
    pub const PROGRESS: &str = "progress";
    /// [`crate::Transition`] from actors to the learner.
    pub const TRANSITIONS: &str = "transitions";
    /// [`crate::EpisodeEvent`] at episode start and end.
    pub const EPISODE: &str = "episode";
    /// [`crate::Intervention`] from a human operator.
    pub const INTERVENTION: &str = "intervention";
    /// [`crate::PolicyWeights`] from the learner.
    pub const WEIGHTS: &str = "weights";
    /// [`crate::Heartbeat`] of a node.
    pub const HEARTBEAT: &str = "heartbeat";
}

/// A key segment or topic that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// A robot, node or stream name is empty or holds a character outside `[A-Za-z0-9_.-]`.
    #[error(
        "{what} `{value}` is not a valid key segment: use 1-64 characters from [A-Za-z0-9_.-], not starting with '.'"
    )]
    BadSegment {
        /// Which part of the key.
        what: &'static str,
        /// The offending text.
        value: String,
    },
    /// A key does not have the form `striatum/@v1/<robot>/<node>/<stream>`.
    #[error("key `{0}` is not of the form striatum/@v1/<robot>/<node>/<stream>")]
    NotAStriatumKey(String),
}

/// Checks a robot, node or stream name.
pub fn check_segment(what: &'static str, value: &str) -> Result<(), TopicError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TopicError::BadSegment {
            what,
            value: value.to_owned(),
        })
    }
}

/// The parts of a concrete topic key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicParts {
    /// Robot (or sim environment) id.
    pub robot: String,
    /// Publishing node.
    pub node: String,
    /// Stream name.
    pub stream: String,
}

impl TopicParts {
    /// Validated parts.
    pub fn new(robot: &str, node: &str, stream: &str) -> Result<Self, TopicError> {
        check_segment("robot id", robot)?;
        check_segment("node", node)?;
        check_segment("stream", stream)?;
        Ok(Self {
            robot: robot.to_owned(),
            node: node.to_owned(),
            stream: stream.to_owned(),
        })
    }

    /// Parses `striatum/@v1/<robot>/<node>/<stream>`.
    pub fn parse(key: &str) -> Result<Self, TopicError> {
        let rest = key
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| TopicError::NotAStriatumKey(key.to_owned()))?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            [robot, node, stream] => Self::new(robot, node, stream)
                .map_err(|_| TopicError::NotAStriatumKey(key.to_owned())),
            _ => Err(TopicError::NotAStriatumKey(key.to_owned())),
        }
    }

    /// The key these parts name.
    pub fn key(&self) -> String {
        format!("{PREFIX}/{}/{}/{}", self.robot, self.node, self.stream)
    }
}

/// A concrete key carrying messages of type `M`.
pub struct Topic<M> {
    parts: TopicParts,
    key: String,
    _message: PhantomData<fn() -> M>,
}

impl<M> Clone for Topic<M> {
    fn clone(&self) -> Self {
        Self {
            parts: self.parts.clone(),
            key: self.key.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Topic<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Topic").field(&self.key).finish()
    }
}

impl<M: Message> Topic<M> {
    /// The topic `striatum/@v1/<robot>/<node>/<stream>`.
    pub fn new(robot: &str, node: &str, stream: &str) -> Result<Self, TopicError> {
        let parts = TopicParts::new(robot, node, stream)?;
        Ok(Self {
            key: parts.key(),
            parts,
            _message: PhantomData,
        })
    }

    /// The full key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Its robot, node and stream.
    pub fn parts(&self) -> &TopicParts {
        &self.parts
    }
}

impl<M> fmt::Display for Topic<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

/// A key expression matching topics; `None` in a position matches any single segment.
///
/// `pattern(None, Some("reward"), Some("progress"))` is `striatum/@v1/*/reward/progress`.
pub fn pattern(
    robot: Option<&str>,
    node: Option<&str>,
    stream: Option<&str>,
) -> Result<String, TopicError> {
    let seg = |what, v: Option<&str>| -> Result<String, TopicError> {
        match v {
            None => Ok("*".to_owned()),
            Some(s) => check_segment(what, s).map(|()| s.to_owned()),
        }
    };
    Ok(format!(
        "{PREFIX}/{}/{}/{}",
        seg("robot id", robot)?,
        seg("node", node)?,
        seg("stream", stream)?
    ))
}

/// Key of a node's liveliness token: `striatum/@v1/<robot>/<node>`.
pub fn liveliness_key(robot: &str, node: &str) -> Result<String, TopicError> {
    check_segment("robot id", robot)?;
    check_segment("node", node)?;
    Ok(format!("{PREFIX}/{robot}/{node}"))
}

/// Key expression matching every node's liveliness token.
pub fn liveliness_pattern() -> String {
    format!("{PREFIX}/*/*")
}

/// Parses a liveliness token key back into `(robot, node)`.
pub fn parse_liveliness_key(key: &str) -> Result<(String, String), TopicError> {
    let rest = key
        .strip_prefix(PREFIX)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| TopicError::NotAStriatumKey(key.to_owned()))?;
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        [robot, node]
            if check_segment("robot id", robot).is_ok() && check_segment("node", node).is_ok() =>
        {
            Ok(((*robot).to_owned(), (*node).to_owned()))
        }
        _ => Err(TopicError::NotAStriatumKey(key.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JointState;

    #[test]
    fn keys_are_built_and_parsed_back() {
        let t = Topic::<JointState>::new("so101_0", "sim", streams::JOINT_STATE).unwrap();
        assert_eq!(t.key(), "striatum/@v1/so101_0/sim/joint_state");
        assert_eq!(TopicParts::parse(t.key()).unwrap(), *t.parts());
        assert_eq!(
            pattern(None, Some("reward"), Some("progress")).unwrap(),
            "striatum/@v1/*/reward/progress"
        );
        assert_eq!(
            parse_liveliness_key(&liveliness_key("arm", "learner").unwrap()).unwrap(),
            ("arm".to_owned(), "learner".to_owned())
        );
    }

    #[test]
    fn wildcards_and_separators_are_not_segments() {
        for bad in ["", "*", "**", "a/b", "$x", "@v2", "a b", ".hidden", "a?b"] {
            assert!(
                Topic::<JointState>::new(bad, "n", "s").is_err(),
                "robot id {bad:?} accepted"
            );
        }
        for bad in [
            "striatum/@v2/a/b/c",
            "striatum/@v1/a/b",
            "striatum/@v1/a/b/c/d",
            "other/@v1/a/b/c",
            "striatum/@v1/a/*/c",
        ] {
            assert!(TopicParts::parse(bad).is_err(), "{bad} parsed");
        }
    }
}
