//! Decoding by type name, for tools that do not know the type in advance (`topic echo`).

use crate::error::DecodeError;
use crate::message::Message;
use crate::types::*;

macro_rules! any_message {
    ($($ty:ident),+ $(,)?) => {
        /// Any message of the stack, decoded from its type name.
        #[derive(Debug, Clone, PartialEq)]
        pub enum AnyMessage {
            $(
                #[doc = concat!("A [`", stringify!($ty), "`].")]
                $ty($ty),
            )+
        }

        /// Every type name the stack sends.
        pub const TYPE_NAMES: &[&str] = &[$(<$ty as Message>::TYPE_NAME),+];

        impl AnyMessage {
            /// Decodes `bytes` as the type named `type_name`.
            pub fn decode(type_name: &str, bytes: &[u8]) -> Result<Self, DecodeError> {
                $(
                    if type_name == <$ty as Message>::TYPE_NAME {
                        return $ty::decode(bytes).map(AnyMessage::$ty);
                    }
                )+
                Err(DecodeError::WrongType { expected: "a striatum message type", found: type_name.to_owned() })
            }

            /// The type name of the message held.
            pub fn type_name(&self) -> &'static str {
                match self { $(AnyMessage::$ty(_) => <$ty as Message>::TYPE_NAME),+ }
            }
        }
    };
}

any_message!(
    JointState,
    Image,
    MultiViewFrame,
    EndEffectorState,
    ActionCommand,
    ProgressReward,
    Transition,
    EpisodeEvent,
    Intervention,
    PolicyWeights,
    Heartbeat,
);
