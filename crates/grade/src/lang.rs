//! The language of the hints. Each exercise has its README in English
//! (`README.md`) and in Chinese (`README.zh-CN.md`), with the same numbered
//! hints in the same order, so a hint number of `exercises/exercises.toml`
//! names the same hint in both. The grader shows the hints of one of them;
//! everything else it prints (the checks, their figures) stays English, as
//! the programs' own output does.

use std::path::PathBuf;

use crate::Exercise;

/// English or Chinese (simplified).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    ZhCn,
}

/// The locale variables that name the language of messages, the first one
/// set (and not empty) winning, as POSIX orders them.
pub const LOCALE_VARS: [&str; 3] = ["LC_ALL", "LC_MESSAGES", "LANG"];

impl Lang {
    /// `en` or `zh-CN` (case and `-`/`_` aside), as `--lang` takes it.
    pub fn parse(name: &str) -> Result<Lang, String> {
        match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "en" => Ok(Lang::En),
            "zh-cn" | "zh" => Ok(Lang::ZhCn),
            _ => Err(format!(
                "no hints in {name:?}; the languages are en and zh-CN"
            )),
        }
    }

    /// The language the locale asks for: Chinese when the first of
    /// [`LOCALE_VARS`] that `var` finds set starts with `zh`, else English.
    pub fn from_locale(var: impl Fn(&str) -> Option<String>) -> Lang {
        let locale = LOCALE_VARS
            .iter()
            .filter_map(|name| var(name))
            .find(|value| !value.is_empty());
        match locale {
            Some(value) if value.starts_with("zh") => Lang::ZhCn,
            _ => Lang::En,
        }
    }

    /// `--lang` if given, else the locale of this process.
    pub fn choose(flag: Option<Lang>) -> Lang {
        flag.unwrap_or_else(|| Lang::from_locale(|name| std::env::var(name).ok()))
    }

    /// The README's file name in an exercise folder.
    pub fn readme_name(self) -> &'static str {
        match self {
            Lang::En => "README.md",
            Lang::ZhCn => "README.zh-CN.md",
        }
    }

    /// The `##` heading the README's numbered hints are under.
    pub fn hints_heading(self) -> &'static str {
        match self {
            Lang::En => "Hints",
            Lang::ZhCn => "提示",
        }
    }

    /// The line that introduces hint `hint` for check `check`, `step` being
    /// (which, of how many) on the check's ladder, and `readme` where all the
    /// hints are.
    pub fn hint_intro(
        self,
        hint: usize,
        check: &str,
        step: (usize, usize),
        readme: &str,
    ) -> String {
        let (n, of) = step;
        match self {
            Lang::En => {
                let steps = if of > 1 {
                    format!("step {n} of {of}; ")
                } else {
                    String::new()
                };
                format!("Hint {hint}, for {check} ({steps}all the hints: {readme}):")
            }
            Lang::ZhCn => {
                let steps = if of > 1 {
                    format!("第 {n} 步，共 {of} 步；")
                } else {
                    String::new()
                };
                format!("提示 {hint}，对应 {check}（{steps}全部提示见 {readme}）：")
            }
        }
    }

    /// What `--hint` adds when it has shown the last hint of a ladder again.
    pub fn last_hint_note(self, check: &str) -> String {
        match self {
            Lang::En => format!("(that is the last hint for {check})"),
            Lang::ZhCn => format!("（这是 {check} 的最后一条提示）"),
        }
    }

    /// The note shown before an English hint when the Chinese `readme`
    /// cannot give it: the file is missing (`why` is `None`), or `why`.
    pub fn fallback_note(readme: &str, why: Option<&str>) -> String {
        match why {
            None => format!("（没有 {readme}，下面是英文提示）"),
            Some(why) => format!("（{readme} 给不出这条提示：{why}；下面是英文提示）"),
        }
    }
}

impl Exercise {
    /// The README in `lang`, relative to the workspace root.
    pub fn readme_in(&self, lang: Lang) -> PathBuf {
        self.starter_dir().join(lang.readme_name())
    }

    /// The Chinese edition's page of the chapter to read first.
    pub fn chapter_page_zh(&self) -> PathBuf {
        PathBuf::from("docs/zh/src").join(format!("{}.md", self.chapter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(vars: &[(&str, &str)]) -> Lang {
        Lang::from_locale(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_first_locale_variable_set_decides() {
        assert_eq!(locale(&[]), Lang::En);
        assert_eq!(locale(&[("LANG", "zh_CN.UTF-8")]), Lang::ZhCn);
        assert_eq!(locale(&[("LANG", "en_US.UTF-8")]), Lang::En);
        assert_eq!(
            locale(&[("LC_MESSAGES", "zh_TW"), ("LANG", "C")]),
            Lang::ZhCn
        );
        // LC_ALL overrides the others, and an empty one does not count.
        assert_eq!(
            locale(&[("LC_ALL", "C"), ("LANG", "zh_CN.UTF-8")]),
            Lang::En
        );
        assert_eq!(
            locale(&[("LC_ALL", ""), ("LANG", "zh_CN.UTF-8")]),
            Lang::ZhCn
        );
    }

    #[test]
    fn the_flag_takes_en_and_zh_cn() {
        assert_eq!(Lang::parse("en"), Ok(Lang::En));
        assert_eq!(Lang::parse("zh-CN"), Ok(Lang::ZhCn));
        assert_eq!(Lang::parse("zh_cn"), Ok(Lang::ZhCn));
        assert!(Lang::parse("fr").is_err());
    }

    #[test]
    fn the_hint_line_reads_naturally_in_both() {
        let readme = "exercises/04-select-queue/README.zh-CN.md";
        assert_eq!(
            Lang::ZhCn.hint_intro(2, "exact-cut", (1, 3), readme),
            "提示 2，对应 exact-cut（第 1 步，共 3 步；全部提示见 \
             exercises/04-select-queue/README.zh-CN.md）："
        );
        assert_eq!(
            Lang::ZhCn.hint_intro(1, "echo", (1, 1), readme),
            "提示 1，对应 echo（全部提示见 exercises/04-select-queue/README.zh-CN.md）："
        );
        assert_eq!(
            Lang::En.hint_intro(2, "exact-cut", (1, 3), "x/README.md"),
            "Hint 2, for exact-cut (step 1 of 3; all the hints: x/README.md):"
        );
    }
}
