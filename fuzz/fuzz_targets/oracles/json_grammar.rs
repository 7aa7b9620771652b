//! Whether a string is one JSON text as `JSON.parse` accepts it (RFC 8259's grammar), for the
//! `awareness_update` target: y-protocols clients `JSON.parse` every awareness state they are
//! relayed and throw on one that is not JSON.
//!
//! Written apart from serde_json on purpose: crdt_core validates states with serde_json, and an
//! oracle sharing its parser would agree with it by construction. Numbers are checked against
//! the grammar only, as `JSON.parse` takes `1e400` (as Infinity). Recursive: it only sees states
//! within the target's small size limit.

/// Whether `text` is one JSON value, optionally surrounded by JSON whitespace.
pub fn is_json(text: &str) -> bool {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    if !parser.value() {
        return false;
    }
    parser.skip_whitespace();
    parser.at == parser.bytes.len()
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let matched = self.peek() == Some(byte);
        if matched {
            self.at += 1;
        }
        matched
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> bool {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => false,
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let matched = self.bytes[self.at..].starts_with(word);
        if matched {
            self.at += word.len();
        }
        matched
    }

    fn array(&mut self) -> bool {
        self.at += 1;
        self.skip_whitespace();
        if self.eat(b']') {
            return true;
        }
        loop {
            if !self.value() {
                return false;
            }
            self.skip_whitespace();
            if self.eat(b']') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn object(&mut self) -> bool {
        self.at += 1;
        self.skip_whitespace();
        if self.eat(b'}') {
            return true;
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') || !self.string() {
                return false;
            }
            self.skip_whitespace();
            if !self.eat(b':') || !self.value() {
                return false;
            }
            self.skip_whitespace();
            if self.eat(b'}') {
                return true;
            }
            if !self.eat(b',') {
                return false;
            }
        }
    }

    fn string(&mut self) -> bool {
        self.at += 1;
        loop {
            match self.peek() {
                None | Some(0x00..=0x1f) => return false,
                Some(b'"') => {
                    self.at += 1;
                    return true;
                }
                Some(b'\\') => {
                    self.at += 1;
                    if !self.escape() {
                        return false;
                    }
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// The rest of an escape after its backslash. `\u` may name a lone surrogate: `JSON.parse`
    /// takes those.
    fn escape(&mut self) -> bool {
        match self.peek() {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                self.at += 1;
                true
            }
            Some(b'u') => {
                self.at += 1;
                (0..4).all(|_| {
                    let hex = self.peek().is_some_and(|byte| byte.is_ascii_hexdigit());
                    if hex {
                        self.at += 1;
                    }
                    hex
                })
            }
            _ => false,
        }
    }

    fn number(&mut self) -> bool {
        self.eat(b'-');
        // A leading zero stands alone: `01` is not a number.
        if !self.eat(b'0') && !self.digits() {
            return false;
        }
        if self.eat(b'.') && !self.digits() {
            return false;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return false;
            }
        }
        true
    }

    fn digits(&mut self) -> bool {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        self.at > start
    }
}
