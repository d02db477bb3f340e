#!/usr/bin/python3
"""Renders strata's chat-template test cases with python3-jinja2, configured as Hugging Face
transformers configures it for apply_chat_template, and writes the results to
tests/data/chat_templates/expected.json. tests/chat/ compares strata's renderings with them
byte for byte, so they come from an independent implementation.

The templates are tests/data/chat_templates/*.jinja: llama3.jinja and qwen3.jinja are
extracted here from data/tokenizers/{llama3,qwen3}/tokenizer_config.json; the others were
written for these tests.

    apt-get install python3-jinja2     # Debian 12 ships jinja2 3.1.2
    scripts/render_chat_templates.py
"""

import json
import os
from datetime import datetime

import jinja2
from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "data", "chat_templates")
# Noon UTC, so strftime_now('%d %B %Y') gives the same date in every time zone within 11 h.
NOW = 1700049600  # 2023-11-15 12:00:00 UTC


def make_env():
    """transformers' _compile_jinja_template (chat_template_utils.py), minus its
    AssistantTracker extension ({% generation %}), which no template here uses."""

    def raise_exception(message):
        raise TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.fromtimestamp(NOW).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name, e.g. Zürich"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}},
                           "required": ["q"]},
        },
    },
]

CONVERSATIONS = {
    "single_user": {"messages": [{"role": "user", "content": "Hello!"}]},
    "system_user": {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is 2+2?"},
        ]
    },
    "multi_turn": {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Name a color."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another one?"},
        ]
    },
    "assistant_last": {
        "messages": [
            {"role": "user", "content": "Say hi."},
            {"role": "assistant", "content": "Hi!"},
        ]
    },
    "unicode": {
        "messages": [
            {"role": "user",
             "content": "Grüße 👋 世界\n\"double\" and 'single' quotes, a back\\slash,\ta tab\n\nand  spaces  "},
            {"role": "assistant", "content": "  Ça va? ✓ — «ok» \u00a0nbsp\n"},
            {"role": "user", "content": "{{ not a template }} {% neither %}"},
        ]
    },
    "empty_content": {
        "messages": [
            {"role": "user", "content": ""},
            {"role": "assistant", "content": ""},
            {"role": "user", "content": " "},
        ]
    },
    "tool_calls": {
        "tools": TOOLS,
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "Weather in Zürich and Paris?"},
            {"role": "assistant", "content": "",
             "tool_calls": [
                 {"type": "function", "function": {"name": "get_weather",
                                                   "arguments": {"city": "Zürich", "unit": "celsius"}}},
                 {"type": "function", "function": {"name": "get_weather",
                                                   "arguments": "{\"city\": \"Paris\"}"}},
             ]},
            {"role": "tool", "content": "{\"temp\": 21}"},
            {"role": "tool", "content": "{\"temp\": 18}"},
            {"role": "assistant", "content": "Zürich 21 °C, Paris 18 °C."},
            {"role": "user", "content": "Thanks"},
        ],
    },
    "tool_call_last": {
        "tools": TOOLS,
        "messages": [
            {"role": "user", "content": "Search for strata"},
            {"role": "assistant", "content": "Let me search.",
             "tool_calls": [{"type": "function", "function": {"name": "search", "arguments": {"q": "strata"}}}]},
            {"role": "tool", "content": "<tool_response>found</tool_response>"},
        ],
    },
    "thinking": {
        "messages": [
            {"role": "user", "content": "What is 3*7?"},
            {"role": "assistant", "content": "<think>\n3 times 7 is 21.\n</think>\n\n21"},
            {"role": "user", "content": "And 4*5?"},
            {"role": "assistant", "content": "20", "reasoning_content": "4 times 5 is 20."},
            {"role": "user", "content": "Thanks."},
        ]
    },
    "thinking_last": {
        "messages": [
            {"role": "user", "content": "Think, then answer: 1+1?"},
            {"role": "assistant", "content": "<think>\nOne plus one.\n</think>\n\n2"},
        ]
    },
    "null_content": {
        "messages": [
            {"role": "user", "content": "Call it"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"type": "function", "function": {"name": "search", "arguments": {"q": "x"}}}]},
        ]
    },
    "system_only_gemma_error": {
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    },
    "bad_alternation": {
        "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    },
}

LLAMA_TOKENS = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}
QWEN_TOKENS = {"bos_token": "", "eos_token": "<|im_end|>"}
SPM_TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}

BASIC = ["single_user", "system_user", "multi_turn", "assistant_last", "unicode", "empty_content",
         "bad_alternation"]

# template file -> (special tokens, conversations, extra contexts to try)
PLAN = {
    "llama3.jinja": (LLAMA_TOKENS, BASIC + ["tool_calls"], [{}]),
    "qwen3.jinja": (QWEN_TOKENS,
                    BASIC + ["tool_calls", "tool_call_last", "thinking", "thinking_last", "null_content"],
                    [{}, {"enable_thinking": False}, {"enable_thinking": True}]),
    "mistral_style.jinja": (SPM_TOKENS, BASIC + ["tool_calls"], [{}]),
    "phi3_style.jinja": (SPM_TOKENS, BASIC, [{}]),
    "llama2_style.jinja": (SPM_TOKENS, BASIC, [{}]),
    "gemma_style.jinja": (SPM_TOKENS, BASIC + ["system_only_gemma_error"], [{}]),
    "torture.jinja": (SPM_TOKENS, ["multi_turn", "tool_calls", "unicode"],
                      [{"undefined_var_is_not_this": 1}]),
}


def extract_templates():
    for model in ("llama3", "qwen3"):
        path = os.path.join(ROOT, "data", "tokenizers", model, "tokenizer_config.json")
        with open(path, encoding="utf-8") as f:
            template = json.load(f)["chat_template"]
        with open(os.path.join(OUT_DIR, model + ".jinja"), "w", encoding="utf-8", newline="") as f:
            f.write(template)


def main():
    extract_templates()
    env = make_env()
    cases = []
    for template_file, (tokens, conversations, extras) in PLAN.items():
        with open(os.path.join(OUT_DIR, template_file), encoding="utf-8", newline="") as f:
            source = f.read()
        template = env.from_string(source)
        for conv_name in conversations:
            conv = CONVERSATIONS[conv_name]
            for extra in extras:
                for gen in (True, False):
                    case = {
                        "template": template_file,
                        "conversation": conv_name,
                        "add_generation_prompt": gen,
                        "extra_context": extra,
                        "bos_token": tokens["bos_token"],
                        "eos_token": tokens["eos_token"],
                    }
                    try:
                        case["expected"] = template.render(
                            messages=conv["messages"], tools=conv.get("tools"), documents=None,
                            add_generation_prompt=gen, **tokens, **extra)
                    except TemplateError as e:  # raise_exception, undefined.attr, ...
                        case["error"] = str(e)
                    except Exception as e:  # a Python TypeError in the template's own code
                        case["error"] = f"{type(e).__name__}: {e}"
                    cases.append(case)
    out = {
        "generator": f"scripts/render_chat_templates.py with jinja2 {jinja2.__version__}",
        "now": NOW,
        "conversations": CONVERSATIONS,
        "cases": cases,
    }
    with open(os.path.join(OUT_DIR, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases ({sum('error' in c for c in cases)} errors)")


if __name__ == "__main__":
    main()
