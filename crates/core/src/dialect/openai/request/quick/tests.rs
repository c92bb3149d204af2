use super::super::pass_through::typed;
use super::parse;

/// A small deterministic generator (xorshift64*): the same bodies on every run.
struct Gen(u64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    /// Mostly one of the first two of `from` (the usual values), sometimes any.
    fn usual<'a>(&mut self, from: &[&'a str]) -> &'a str {
        if self.below(4) > 0 {
            from[self.below(from.len().min(2))]
        } else {
            self.pick(from)
        }
    }

    /// Whitespace, mostly none; now and then a byte that JSON does not count as whitespace.
    fn ws(&mut self) -> &'static str {
        if self.below(200) == 0 {
            return self.pick(&["\u{c}", "\u{b}", "\u{a0}"]);
        }
        self.pick(&["", "", "", " ", "\n", "\t ", "\r\n  "])
    }
}

const TEXTS: [&str; 17] = [
    r#""m""#,
    r#""gpt-4o-mini""#,
    "\"\u{e9}t\u{e9} \u{1f600}\"",
    r#""a\"b""#,
    r#""\u0041""#,
    "\"tab\there\"",
    r#""""#,
    "null",
    "5",
    r#""line\nbreak\\ \/ \b\f\r\t""#,
    r#""\ud83d\ude00 \u00E9""#,
    r#""lone \ud800""#,
    r#""bad \x escape""#,
    r#""ends in \""#,
    "\"ctl \u{1}\"",
    r#""C:\\""#,
    r#""\\\"""#,
];
const COUNTS: [&str; 16] = [
    "16",
    "0",
    "01",
    "-1",
    "4294967295",
    "4294967296",
    "1.0",
    "1e2",
    "null",
    r#""16""#,
    "+1",
    "2 ",
    "999999999",
    "1000000000",
    "-0",
    "00",
];
const FLOATS: [&str; 16] = [
    "0.7",
    "1",
    "-0",
    "1e-3",
    "1E+2",
    ".5",
    "1.",
    "00.1",
    "1e400",
    "null",
    r#""x""#,
    "0.30000000000000004",
    "2.2250738585072014e-308",
    "-1.5e-7",
    "9007199254740993",
    "1.7976931348623157e308",
];
const SEEDS: [&str; 10] = [
    "1",
    "-5",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "1.5",
    "-",
    "-0",
    "01",
    "-9223372036854775809",
];
const BOOLS: [&str; 6] = ["true", "false", "null", "1", "tru", "falsey"];

/// A message: usually a role and a text content; sometimes what only the typed pass reads.
fn message(g: &mut Gen) -> String {
    let mut fields = Vec::new();
    let roles = [
        r#""user""#,
        r#""system""#,
        r#""assistant""#,
        r#""tool""#,
        "1",
        "null",
    ];
    let contents = [
        r#""hi""#,
        r#""say \"hi\"\n""#,
        "null",
        r#"[{"type":"text","text":"hi"}]"#,
        r#""""#,
        "\"\u{e9}\"",
        "7",
        r#""\u00e9\ud83d\ude00""#,
        r#""bad \q""#,
    ];
    if g.below(12) > 0 {
        fields.push(format!(r#""role"{}:{}{}"#, g.ws(), g.ws(), g.usual(&roles)));
    }
    if g.below(8) > 0 {
        fields.push(format!(r#""content":{}"#, g.usual(&contents)));
    }
    match g.below(14) {
        0 => fields.push(format!(r#""name":{}"#, g.pick(&TEXTS))),
        1 => fields.push(r#""tool_call_id":"c1""#.to_owned()),
        2 => fields.push(r#""role":"user""#.to_owned()),
        3 => fields.push(r#""x":{"y":[1,2]}"#.to_owned()),
        4 => fields.push(format!(r#""content":{}"#, g.pick(&contents))),
        5 => fields.push(r#""content":null"#.to_owned()),
        6 => fields.push(r#""name":"a","name":"b""#.to_owned()),
        7 => fields.push(r#""rol\u0065":"user""#.to_owned()),
        8 => fields.push("\"r\u{f4}le\":\"user\"".to_owned()),
        _ => {}
    }
    shuffle(g, &mut fields);
    let sep = format!("{},{}", g.ws(), g.ws());
    format!("{{{}{}{}}}", g.ws(), fields.join(&sep), g.ws())
}

fn messages(g: &mut Gen) -> String {
    match g.below(12) {
        0 => return "null".to_owned(),
        1 => return "{}".to_owned(),
        2 => return "[]".to_owned(),
        _ => {}
    }
    let n = 1 + g.below(3);
    let all: Vec<String> = (0..n).map(|_| message(g)).collect();
    let sep = format!("{},{}", g.ws(), g.ws());
    format!("[{}{}{}]", g.ws(), all.join(&sep), g.ws())
}

fn shuffle<T>(g: &mut Gen, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        items.swap(i, g.below(i + 1));
    }
}

/// A generated body: a few of the fields an SDK sends, in any order, with what only the typed
/// pass reads mixed in (nulls, escapes, unknown fields, a field twice, a bad value, garbage).
fn body(g: &mut Gen) -> String {
    let mut fields = vec![
        format!(
            r#""model":{}"#,
            if g.below(6) > 0 {
                r#""m""#
            } else {
                g.pick(&TEXTS)
            }
        ),
        format!(r#""messages":{}"#, messages(g)),
    ];
    let optional: [(&str, &[&str]); 15] = [
        ("max_tokens", &COUNTS),
        ("max_completion_tokens", &COUNTS),
        ("n", &COUNTS),
        ("temperature", &FLOATS),
        ("top_p", &FLOATS),
        ("presence_penalty", &FLOATS),
        ("frequency_penalty", &FLOATS),
        ("seed", &SEEDS),
        ("stream", &BOOLS),
        ("parallel_tool_calls", &BOOLS),
        ("user", &TEXTS),
        ("stop", &[r#""\n""#, r#"["a","b"]"#, "null"]),
        ("logprobs", &["true", "false", "null"]),
        ("tools", &["[]", "null"]),
        (
            "stream_options",
            &[
                r#"{"include_usage":true}"#,
                "{ }",
                r#"{ "include_usage" : false }"#,
                "null",
                r#"{"x":1}"#,
                r#"{"include_usage":true,"x":1}"#,
                r#"{"include_usage":1}"#,
                r#"{"include_usage":null}"#,
                r#"{"include_usage":true,"include_usage":false}"#,
                r#"{"include_usag\u0065":true}"#,
            ],
        ),
    ];
    for _ in 0..g.below(5) {
        let (key, values) = optional[g.below(optional.len())];
        fields.push(format!(
            r#""{key}"{}:{}{}"#,
            g.ws(),
            g.ws(),
            g.usual(values)
        ));
    }
    if g.below(20) == 0 {
        fields.swap_remove(g.below(2));
    }
    shuffle(g, &mut fields);
    let sep = format!("{},{}", g.ws(), g.ws());
    let mut body = format!(
        "{}{{{}{}{}}}{}",
        g.ws(),
        g.ws(),
        fields.join(&sep),
        g.ws(),
        g.ws()
    );
    match g.below(40) {
        0 => body.push_str(" x"),
        1 => {
            let mut cut = body.len().saturating_sub(1 + g.below(4));
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
        }
        2 => body = body.replacen("\"model\"", "\"mod\\u0065l\"", 1),
        _ => {}
    }
    body
}

/// Every body the hand reader reads, it reads to exactly what the typed pass gives, and it
/// reads most of the usual ones (so the test compares something).
#[test]
fn what_is_read_by_hand_is_what_the_typed_pass_reads() {
    let mut g = Gen(0x5EED_0FC0_FFEE);
    let (mut by_hand, mut typed_ok) = (0, 0);
    for _ in 0..40_000 {
        let mut bytes = body(&mut g).into_bytes();
        // Now and then a byte that is not UTF-8, in place of any letter (of a key or a value).
        if g.below(40) == 0 {
            let letters: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i].is_ascii_lowercase())
                .collect();
            if !letters.is_empty() {
                bytes[letters[g.below(letters.len())]] = 0xff;
            }
        }
        let body = String::from_utf8_lossy(&bytes);
        let typed = typed(&bytes);
        typed_ok += usize::from(typed.is_ok());
        let Some(quick) = parse(&bytes) else {
            continue;
        };
        by_hand += 1;
        let Ok(typed) = typed else {
            panic!("read by hand, refused by the typed pass: {body}");
        };
        assert_eq!(quick.request, typed.request, "{body}");
        // `Debug` tells -0.0 from 0.0, which `==` does not.
        let debug = |r: &super::ChatRequest| format!("{r:?}");
        assert_eq!(debug(&quick.request), debug(&typed.request), "{body}");
        assert_eq!(quick.unmodelled, typed.unmodelled, "{body}");
        assert_eq!(quick.layout, typed.layout, "{body}");
    }
    // Both kinds occur: bodies read by hand, and good bodies left to the typed pass.
    assert!(by_hand > 2_000, "{by_hand} of {typed_ok}");
    assert!(typed_ok > by_hand + 2_000, "{by_hand} of {typed_ok}");
}

/// What SDKs send is read by hand (the point of it), a body with a field it does not read is
/// not.
#[test]
fn the_usual_bodies_are_read_by_hand() {
    let usual = [
        r#"{"model":"zero-1","messages":[{"role":"user","content":"hello"}],"max_tokens":16}"#,
        r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"ann"}],"model":"gpt-4o-mini","temperature":0.2,"stream":true,"seed":-3,"user":"u1"}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"a\nb \"c\" \u00e9"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#,
        "{\n  \"model\": \"m\",\n  \"messages\": [\n    {\"content\": null, \"role\": \"assistant\"}\n  ],\n  \"n\": 2\n}\n",
    ];
    for body in usual {
        let quick = parse(body.as_bytes());
        assert!(quick.is_some(), "{body}");
        let typed = typed(body.as_bytes()).ok();
        assert_eq!(
            quick.map(|p| (p.request, p.layout)),
            typed.map(|p| (p.request, p.layout)),
            "{body}"
        );
    }
    let others = [
        r#"{"model":"m","messages":[],"stop":"\n"}"#,
        r#"{"model":"m","messages":[],"temperature":null}"#,
        r#"{"model":"m","messages":[],"model":"n"}"#,
        r#"{"model":"m\"#,
        r#"{"model":"m","messages":[{"role":"user","content":[]}]}"#,
    ];
    for body in others {
        assert!(parse(body.as_bytes()).is_none(), "{body}");
    }
}
