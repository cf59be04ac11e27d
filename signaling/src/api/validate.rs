//! Input checks shared by handlers; each failure names the field.

use crate::error::{ApiError, ApiResult};

/// A trimmed, non-empty string of at most `max` characters.
pub fn required(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::Validation(format!("{field} is required")));
    }
    optional(field, value, max)
}

/// A trimmed string (possibly empty) of at most `max` characters.
pub fn optional(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(ApiError::Validation(format!(
            "{field} is longer than {max} characters"
        )));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::Validation(format!(
            "{field} contains control characters"
        )));
    }
    Ok(value.to_owned())
}

pub fn username(value: &str) -> ApiResult<String> {
    let value = required("username", value, 64)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(ApiError::Validation(
            "username may contain only letters, digits, '.', '_' and '-'".into(),
        ));
    }
    Ok(value)
}

pub fn password(value: &str) -> ApiResult<()> {
    if value.chars().count() < 10 {
        return Err(ApiError::Validation(
            "password must have at least 10 characters".into(),
        ));
    }
    if value.len() > 1024 {
        return Err(ApiError::Validation("password is too long".into()));
    }
    Ok(())
}

/// Digits, spaces, '+' and '-' only; empty allowed.
pub fn phone(value: &str) -> ApiResult<String> {
    let value = optional("phone", value, 32)?;
    if !value
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
    {
        return Err(ApiError::Validation(
            "phone may contain only digits, '+', '-' and spaces".into(),
        ));
    }
    Ok(value)
}
