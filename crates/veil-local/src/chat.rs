//! Chat templating: the model's own Jinja template (`tokenizer.chat_template`), rendered
//! with minijinja the way Hugging Face `apply_chat_template` does.

use minijinja::{Environment, Error as JinjaError, ErrorKind as JinjaKind, context};

use crate::error::{Error, ErrorKind};
use crate::model::ChatMessage;

/// ChatML, used when a model file carries no template.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// A placeholder for message `i`'s content: private-use characters no template emits.
pub(crate) fn marker(i: usize) -> String {
    format!("\u{F8F0}{i}\u{F8F1}")
}

/// Renders `template` for `messages`, ending with the assistant's generation prompt.
///
/// # Errors
/// `InvalidRequest` when the template does not compile or raises an exception.
pub fn render(
    template: &str,
    messages: &[ChatMessage],
    bos_token: Option<&str>,
    eos_token: Option<&str>,
) -> Result<String, Error> {
    let mut env = Environment::new();
    // Hugging Face templates call `raise_exception('...')` to reject bad conversations.
    env.add_function(
        "raise_exception",
        |msg: String| -> Result<String, JinjaError> {
            Err(JinjaError::new(JinjaKind::InvalidOperation, msg))
        },
    );
    let bad = |e: JinjaError| {
        Error::new(
            ErrorKind::InvalidRequest,
            format!("chat template failed: {}", e.kind()),
        )
    };
    env.add_template("chat", template).map_err(bad)?;
    let tmpl = env.get_template("chat").map_err(bad)?;
    tmpl.render(context! {
        messages => messages,
        add_generation_prompt => true,
        bos_token => bos_token.unwrap_or(""),
        eos_token => eos_token.unwrap_or(""),
    })
    .map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_smollm2_template_with_default_system_prompt() {
        let out = render(SMOLLM2, &[ChatMessage::new("user", "Hi")], None, None).unwrap();
        assert_eq!(
            out,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn raise_exception_is_an_error_not_a_panic() {
        let t = "{% if messages|length == 0 %}{{ raise_exception('empty') }}{% endif %}";
        let err = render(t, &[], None, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }
}
