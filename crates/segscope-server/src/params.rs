//! Strict query strings.
//!
//! A handler takes the parameters it knows one by one, then calls
//! [`Params::finish`]: anything left is an unknown parameter and a 422 that
//! names it and lists the allowed ones. A misspelt `granularty=week` must
//! not quietly give a daily chart. A parameter given twice is refused too
//! (which one would win is a guess), except the ones documented as
//! repeatable. An empty value (`from=`) counts as absent, as HTML forms
//! send them.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::error::ApiError;

/// The query parameters of one request, consumed as they are read.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    known: Vec<&'static str>,
}

impl Params {
    pub fn parse(query: Option<&str>) -> Result<Params, ApiError> {
        let query = query.unwrap_or("");
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(
            &format!("/?{query}").parse().map_err(|_| ApiError::invalid("the query string is not valid"))?,
        )
        .map_err(|rejection| ApiError::invalid(format!("the query string is not valid: {}", rejection.body_text())))?;
        Ok(Params { pairs, known: Vec::new() })
    }

    /// The value of a parameter given at most once; `None` if absent or empty.
    pub fn one(&mut self, name: &'static str) -> Result<Option<String>, ApiError> {
        let mut values = self.all(name);
        if values.len() > 1 {
            return Err(ApiError::bad_parameter(name, format!("query parameter `{name}` is given more than once")));
        }
        Ok(values.pop())
    }

    /// A parameter that must be present.
    pub fn required(&mut self, name: &'static str) -> Result<String, ApiError> {
        self.one(name)?.ok_or_else(|| ApiError::bad_parameter(name, format!("missing query parameter `{name}`")))
    }

    /// Every value of a repeatable parameter, in order (empty values dropped).
    pub fn all(&mut self, name: &'static str) -> Vec<String> {
        self.known.push(name);
        let (taken, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pairs).into_iter().partition(|(key, _)| key == name);
        self.pairs = rest;
        taken.into_iter().map(|(_, value)| value).filter(|value| !value.trim().is_empty()).collect()
    }

    /// A parameter parsed by `parse`; its error names the parameter.
    pub fn parsed<T>(
        &mut self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, segscope_core::Error>,
    ) -> Result<Option<T>, ApiError> {
        match self.one(name)? {
            None => Ok(None),
            Some(raw) => parse(&raw).map(Some).map_err(|err| ApiError::bad_parameter(name, err.message)),
        }
    }

    /// An unsigned integer parameter within `min..=max`.
    pub fn number(&mut self, name: &'static str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
        self.parsed(name, |raw| {
            raw.trim().parse::<u64>().ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| {
                segscope_core::Error::invalid(format!("`{name}` must be a whole number from {min} to {max}, not `{raw}`"))
            })
        })
    }

    /// Fails on the first parameter nobody asked for.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.pairs.first() {
            None => Ok(()),
            Some((name, _)) => {
                let allowed = if self.known.is_empty() {
                    "this route takes no query parameters".to_owned()
                } else {
                    let mut known = self.known.clone();
                    known.dedup();
                    format!("allowed: {}", known.join(", "))
                };
                let shown: String = name.chars().take(64).collect();
                Err(ApiError::bad_parameter(&shown, format!("unknown query parameter `{shown}` ({allowed})")))
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Params, ApiError> {
        Params::parse(parts.uri.query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_repeated_parameters_are_named() {
        let mut params = Params::parse(Some("view=known&granularty=week")).unwrap();
        assert_eq!(params.one("view").unwrap().as_deref(), Some("known"));
        let err = params.finish().unwrap_err();
        assert_eq!(err.details["parameter"], "granularty");

        let mut params = Params::parse(Some("view=known&view=all")).unwrap();
        assert_eq!(params.one("view").unwrap_err().details["parameter"], "view");

        let mut params = Params::parse(Some("from=&map=a%3Db&map=c%3Dd")).unwrap();
        assert_eq!(params.one("from").unwrap(), None);
        assert_eq!(params.all("map"), ["a=b", "c=d"]);
        params.finish().unwrap();
    }
}
