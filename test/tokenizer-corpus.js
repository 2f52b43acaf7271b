// Tokenizer test corpus: hand-written strings plus programmatic combinations (deterministic).
// Deliberately absent: U+0085 and U+FEFF (the JS-regex HF port used as oracle treats them unlike Rust/llama.cpp,
// see src/tokenizer/pretokenize.ts) and unassigned code points.

const handWritten = [
  // English, contractions, apostrophes
  'Hello world',
  "I'm sure you're right, they've said we'll see; he'd know it's John's.",
  "DON'T SHOUT, I'LL LEAVE. You'RE welcome, it'S fine, WE'VE, she'D",
  "rock 'n' roll, 'quoted', ''double'', '' , ' s 'sss",
  'The quick brown fox jumps over the lazy dog.',
  'e.g. i.e. etc... U.S.A. Mr. Smith -- em—dash – en–dash',
  '"Smart quotes" and ‘single’ ones… ellipsis',
  // whitespace runs, tabs, newlines
  '   leading spaces',
  'trailing spaces   ',
  'a  b   c    d     e',
  'line1\nline2\n\nline4\n\n\n',
  '\n\n\nstarts with newlines',
  'tabs\there\t\tand\t\t\tthere',
  'mixed \t \n \r\n windows\r\nline endings\r\n',
  ' \n \n ',
  '\t',
  ' ',
  '\n',
  '    \n    indented\n        more\n',
  'space before newline \nand after\n x',
  'nbsp\u00a0here and\u2009thin\u202fspace and\u3000ideographic',
  'em\u2003space en\u2002space\u2028line sep\u2029para sep',
  // digits and numbers
  '0', '12', '123', '1234', '12345', '1234567890', '3.14159265358979323846',
  'Numbers: 1,000,000 and 1.5e-10 and -42 and +7 and 0x1F and 007',
  'Phone +1 (555) 123-4567, ISBN 978-3-16-148410-0',
  '123456789012345678901234567890123456789012345678901234567890',
  'year2024 v1.2.3 ipv4 192.168.0.1 port:8080',
  '١٢٣ ٤٥٦ Arabic-Indic digits, ０１２３ fullwidth, ½ ² ³ Ⅻ ① superscripts',
  // Chinese simplified / traditional
  '你好，世界！',
  '深度求索（DeepSeek）是一家专注于通用人工智能的公司。',
  '机器学习和深度学习是人工智能的重要分支，它们在图像识别、自然语言处理等领域取得了巨大成功。',
  '我們在台灣使用繁體中文，這是一個測試句子。',
  '歡迎來到香港！今天天氣很好。',
  '中文English混合text测试123数字',
  '「引號」『雙引號』《書名號》〈角括號〉',
  '一二三四五六七八九十百千万亿',
  '𠀀𠀁𠀂 rare CJK extension B 𪚥 𰻞𰻞面',
  '龘靐齉齾爩鱻麤龗灪龖厵爨癵驫',
  // Japanese
  'こんにちは世界',
  '日本語のテキストを処理します。カタカナとひらがな、そして漢字。',
  'ｶﾀｶﾅ半角 and ＡＢＣ全角',
  '東京は日本の首都です。富士山は美しい。',
  // Korean
  '안녕하세요 세계',
  '한국어 텍스트입니다. 자연어 처리는 재미있어요!',
  'ㄱㄴㄷ ㅏㅑㅓ 한글 자모',
  // Arabic / Hebrew / Cyrillic / Greek / others
  'مرحبا بالعالم',
  'اللغة العربية جميلة جداً.',
  'שלום עולם',
  'עברית היא שפה שמית.',
  'Привет, мир! Как дела?',
  'Съешь же ещё этих мягких французских булок, да выпей чаю.',
  'Γειά σου Κόσμε! Αλφάβητο: αβγδεζηθ',
  'Ελληνικά και русский и עברית and العربية together',
  'नमस्ते दुनिया, हिन्दी भाषा',
  'สวัสดีชาวโลก ภาษาไทย',
  'Tiếng Việt có dấu: Xin chào thế giới',
  'Türkçe: çğıöşü İstanbul',
  // accents, combining marks (precomposed and decomposed)
  'café naïve résumé façade coöperate',
  'cafe\u0301 nai\u0308ve re\u0301sume\u0301',
  'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dalgo text',
  'a\u0300\u0301\u0302\u0303\u0304 stacked',
  'Ångström Ærøskøbing Œuvre straße ĳ',
  // emoji
  '😀😃😄😁😆😅😂🤣',
  'I ❤️ you 👍🏽 and 👩🏻‍💻 codes',
  'family 👨‍👩‍👧‍👦 and couple 👩‍❤️‍💋‍👨',
  'flags 🇺🇸🇨🇳🇯🇵🇰🇷🇩🇪🇫🇷 🏳️‍🌈 🏴‍☠️',
  'keycaps 1️⃣ 2️⃣ #️⃣ and skin tones 👋🏻👋🏼👋🏽👋🏾👋🏿',
  'emoji between words🙂like🙃this',
  '🧑‍🚀🧑‍🔬🧑‍🎨 new emoji ✅❌⚠️',
  // math / symbols
  '∀x∈ℝ: x²≥0, ∑_{i=1}^{n} i = n(n+1)/2',
  '∫₀^∞ e^{-x²} dx = √π/2 ≈ 0.886',
  'α+β=γ, Δx→0, ∂f/∂x, ∇·E = ρ/ε₀',
  '≤ ≥ ≠ ± × ÷ ∞ ∅ ⊂ ⊃ ∪ ∩ ¬ ∧ ∨ ⇒ ⇔',
  '$100 €50 £30 ¥1000 ₹500 ₿0.001',
  '©®™ §¶ †‡ •◦ ※ ♠♣♥♦ ★☆',
  '~tilde ~~double~~ a~b ~é ~中 ~1',
  '@user #hashtag $var %mod ^caret &amp *star _under +plus =eq |pipe \\back /slash',
  '<html><body class="x">Hi &amp; bye</body></html>',
  '{"key": "value", "arr": [1, 2, 3], "nested": {"a": null}}',
  'https://example.com/path?query=1&b=2#frag',
  'user.name+tag@example.co.uk',
  // source code
  'def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n',
  'function add(a, b) {\n  return a + b;\n}\nconsole.log(add(1, 2));\n',
  '#include <stdio.h>\nint main(void) {\n\tprintf("hello\\n");\n\treturn 0;\n}\n',
  'fn main() {\n    let v: Vec<i32> = (0..10).map(|x| x * x).collect();\n    println!("{:?}", v);\n}\n',
  'SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;',
  'public static void main(String[] args) { System.out.println("Hi"); }',
  'const re = /^[a-z0-9_-]{3,16}$/gi; // regex\nlet x = a?.b ?? c;',
  '<?php echo $foo->bar(); ?>',
  'x = [i**2 for i in range(10) if i % 2 == 0]  # 列表推导\n',
  '    # 中文注释\n    result = compute(数据)  # 计算结果\n',
  'if (a && b || !c) { x += 1; y -= 2; z *= 3; w /= 4; }',
  '```python\nprint("hi")\n```',
  '<<<<<<< HEAD\n=======\n>>>>>>> branch',
  '////////////////////////////////',
  '----------------------------------------',
  '!!!???...,,,;;;:::',
  '((((nested))))[[[[brackets]]]]{{{{braces}}}}',
  // special-token text
  '<｜User｜>hi<｜Assistant｜>',
  '<｜begin▁of▁sentence｜>You are helpful.<｜User｜>2+2?<｜Assistant｜><think>\nsimple</think>\n\n4<｜end▁of▁sentence｜>',
  '<think>',
  '</think>',
  '<think>reasoning here</think>answer',
  '<｜Assistant｜><think>\n',
  '<｜fim▁begin｜>def f():<｜fim▁hole｜>\n<｜fim▁end｜>',
  '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>',
  '<|EOT|> and <|endoftext|> and <|im_start|>user\nhi<|im_end|>',
  '</s> <s> <unk> <pad>',
  '<｜User｜><｜User｜><｜User｜>',
  '<｜User',
  'User｜>',
  '<｜▁pad▁｜>',
  '<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>',
  'text<think>inner<think>double</think></think>end',
  // mixed scripts and odd cases
  'Mixed: English中文日本語한국어Русскийالعربية',
  'CamelCaseIdentifierWithNumbers123AndMore',
  'snake_case_identifier_with_many_parts_and_1_2_3',
  'ALLCAPS lowercase MiXeD',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  'ababababababababababababababababababab',
  'x',
  'a b',
  '\u200b zero width space \u200c zwnj \u200d zwj',
  'soft\u00adhyphen',
  'control\u0001chars\u0007here\u001b[0m',
  '\u00a0',
  '\u3000\u3000全角空格',
  '…',
  '—',
  '\u2028',
];

// Programmatic part: pieces combined with separators, repetitions, numbers.
const words = ['hello', '你好', 'こんにちは', '안녕', 'привет', 'γειά', 'مرحبا', 'שלום', '😀', '👨‍👩‍👧', '🇫🇷', '123',
  '4567', "it's", 'don\'t', 'café', 'e\u0301', '∑', '$', '<｜User｜>', '<think>', 'x_y', 'foo.bar()', '\t', '  '];
const seps = [' ', '', '\n', '  ', '\t', ', ', '。', '! ', '\r\n', ' \n '];

function generated() {
  const out = [];
  let seed = 12345;
  const rnd = (n) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
  for (let i = 0; i < 100; i++) {
    const n = 2 + rnd(6);
    let s = '';
    for (let k = 0; k < n; k++) s += words[rnd(words.length)] + seps[rnd(seps.length)];
    out.push(s);
  }
  for (let d = 1; d <= 20; d++) out.push('9'.repeat(d)); // digit-group boundaries (\p{N}{1,3})
  for (let d = 1; d <= 8; d++) out.push(' '.repeat(d) + 'x' + ' '.repeat(d)); // space runs
  for (let d = 1; d <= 6; d++) out.push('\n'.repeat(d) + 'y' + '\t'.repeat(d));
  // CJK runs mixed with Latin and digits
  const cjk = '人工智能深度学习模型训练数据推理服务器';
  for (let i = 0; i < 10; i++) out.push(cjk.slice(i, i + 5 + i) + 'abc' + i * 37 + cjk.slice(0, i + 1));
  return out;
}

export const corpus = [...new Set([...handWritten, ...generated()])];
