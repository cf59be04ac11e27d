//! Accounts looked after through the console in a real browser: the administrator creates a
//! mediator's account on the users page, disables it (the mediator's sign-in is refused in
//! plain words) and enables it again; the mediator changes the password on the account page
//! and signs out everywhere, which ends the sign-in of another browser too.

use concord_tests::chromium::{chromium_path, Browser, Page};
use concord_tests::server::{ADMIN_PASSWORD, ADMIN_USERNAME};
use concord_tests::webclient::{fill, screenshot, BROWSER_TIMEOUT};
use concord_tests::{ApiClient, ApiResponse, TestServer};
use serde_json::{json, Value};

const USERNAME: &str = "lin.mediator";
const DISPLAY_NAME: &str = "林调解员";
const FIRST_PASSWORD: &str = "a first password from the admin";
const NEW_PASSWORD: &str = "the mediator's own password";
/// The server's shortest password (signaling/src/api/validate.rs), which the page must tell.
const SERVER_MIN_PASSWORD_CHARS: u32 = 10;

/// A phone held upright: the pages must work without sideways scrolling.
const NARROW_SCREEN: (u32, u32) = (360, 740);

fn testid(testid: &str) -> String {
    format!("[data-testid={testid}]")
}

/// The row of `username` on the users page.
fn user_row(username: &str) -> String {
    format!("[data-testid=user-row][data-username=\"{username}\"]")
}

fn js(text: &str) -> String {
    serde_json::to_string(text).expect("a string is JSON")
}

async fn wait_for(page: &Page, selector: &str, what: &str) {
    let expression = format!("!!document.querySelector({})", js(selector));
    page.wait_for(&expression, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what} ({selector}) appears: {e:#}"));
}

async fn click(page: &Page, selector: &str, what: &str) {
    page.wait_and_click(selector, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{what}: clicking {selector}: {e:#}\n{:?}", page.console()));
}

async fn type_into(page: &Page, field: &str, value: &str) {
    fill(page, field, value)
        .await
        .unwrap_or_else(|e| panic!("typing into {field}: {e:#}"));
}

/// What the page shows in the first element matching `selector`.
async fn shown_text(page: &Page, selector: &str) -> String {
    let text = page
        .evaluate(&format!(
            "(document.querySelector({}) || {{}}).innerText",
            js(selector)
        ))
        .await
        .unwrap_or_else(|e| panic!("reading {selector}: {e:#}"));
    text.as_str().unwrap_or_default().trim().to_owned()
}

/// The words the page's own texts (i18n.js, in the language it shows) give `key`.
async fn words_for(page: &Page, key: &str, vars: Value) -> String {
    let words = page
        .evaluate(&format!(
            "import('/assets/i18n.js').then(m => m.t({}, {vars}))",
            js(key)
        ))
        .await
        .unwrap_or_else(|e| panic!("looking up {key}: {e:#}"));
    let words = words.as_str().unwrap_or_default().to_owned();
    assert!(
        !words.is_empty() && words != key,
        "i18n.js has words for {key}"
    );
    words
}

/// Waits until the form error inside `scope` is shown, then checks it says `key` (filled with
/// `vars`) in words.
async fn assert_error_says(page: &Page, scope: &str, key: &str, vars: Value, why: &str) {
    let selector = format!("{scope} [data-testid=form-error]");
    let expression = format!(
        "(() => {{ const e = document.querySelector({}); \
         return e && !e.hidden && e.dataset.i18n; }})()",
        js(&selector)
    );
    let shown_key = page
        .wait_for(&expression, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{why}: an error is shown: {e:#}"));
    assert_eq!(shown_key, key, "{why}: the error shown");
    assert_eq!(
        shown_text(page, &selector).await,
        words_for(page, key, vars).await,
        "{why}: the error is in plain words"
    );
}

/// The status of a plain request the page makes with its own cookie.
async fn status_of_me(page: &Page) -> u64 {
    page.evaluate("fetch('/api/auth/me', { credentials: 'same-origin' }).then(r => r.status)")
        .await
        .expect("the page asks who it is")
        .as_u64()
        .expect("a status")
}

/// Signs in through the sign-in form.
async fn sign_in(page: &Page, username: &str, password: &str) {
    wait_for(page, &testid("login-form"), "the sign-in form").await;
    type_into(page, "login-username", username).await;
    type_into(page, "login-password", password).await;
    click(page, &testid("login-submit"), "signing in").await;
}

async fn assert_signed_in(page: &Page, who: &str) {
    wait_for(page, &testid("nav-account"), &format!("{who} is signed in")).await;
}

/// The next confirmation the page asks is answered yes; the question is kept to be read.
async fn agree_to_confirmations(page: &Page) {
    page.evaluate(
        "window.confirm = (question) => { window.lastQuestion = question; return true; }",
    )
    .await
    .expect("replace window.confirm");
}

async fn last_question(page: &Page) -> String {
    let question = page
        .evaluate("window.lastQuestion")
        .await
        .expect("read the question");
    question.as_str().unwrap_or_default().to_owned()
}

/// Nothing sticks out sideways, and the header's links are on the screen. (Widths are of the
/// page without its scrollbar.)
async fn assert_fits_narrow_screen(page: &Page, what: &str) {
    let layout = page
        .evaluate(
            "(() => { const width = document.documentElement.clientWidth; return { \
               overflow: document.documentElement.scrollWidth - width, \
               navOutside: [...document.querySelectorAll('.user-nav > *')] \
                 .map(e => e.getBoundingClientRect()) \
                 .filter(r => r.width === 0 || r.left < 0 || r.right > width).length }; })()",
        )
        .await
        .expect("measure the page");
    assert_eq!(
        layout,
        json!({"overflow": 0, "navOutside": 0}),
        "{what} fits a narrow screen, header links and all"
    );
}

async fn listed_account(admin: &ApiClient, username: &str) -> Value {
    let listed = admin
        .get("/api/users")
        .await
        .expect("request")
        .ok()
        .expect("the administrator lists the accounts");
    listed["users"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["username"] == username)
        .cloned()
        .unwrap_or_else(|| panic!("{username} is listed: {listed}"))
}

async fn try_sign_in(server: &TestServer, username: &str, password: &str) -> ApiResponse {
    server
        .client()
        .expect("client")
        .post(
            "/api/auth/login",
            json!({"username": username, "password": password}),
        )
        .await
        .expect("a reply")
}

/// Waits until the row of `username` says whether the account is disabled.
async fn wait_for_row_disabled(page: &Page, username: &str, disabled: bool) {
    let expression = format!(
        "(document.querySelector({}) || {{ dataset: {{}} }}).dataset.disabled === '{disabled}'",
        js(&user_row(username))
    );
    page.wait_for(&expression, BROWSER_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("the row of {username} shows disabled={disabled}: {e:#}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrator_manages_accounts_and_a_mediator_looks_after_their_own_in_the_browser() {
    chromium_path().expect("Chromium is required for the browser test");
    let server = TestServer::start().await.expect("start the server");
    let admin_api = server.admin().await.expect("the administrator signs in");
    let browser = Browser::launch().await.expect("launch Chromium");

    // The administrator signs in on a phone and opens the users page from the header.
    let admin = browser
        .new_page(&server.url("/"))
        .await
        .expect("open the console");
    admin
        .set_viewport(NARROW_SCREEN.0, NARROW_SCREEN.1)
        .await
        .expect("a narrow screen");
    sign_in(&admin, ADMIN_USERNAME, ADMIN_PASSWORD).await;
    click(&admin, &testid("nav-users"), "the users link").await;
    let own_row = user_row(ADMIN_USERNAME);
    wait_for(&admin, &own_row, "the administrator's own account").await;
    let own = admin
        .evaluate(&format!(
            "(() => {{ const r = document.querySelector({}); \
             return {{ toggle: !!r.querySelector('[data-testid=user-toggle]'), \
                      own: !!r.querySelector('[data-testid=user-own]') }}; }})()",
            js(&own_row)
        ))
        .await
        .expect("read the own row");
    assert_eq!(
        own,
        json!({"toggle": false, "own": true}),
        "the administrator's own account is marked and has no disable button (the server \
         refuses it)"
    );

    // A taken username is refused by the server, and the form says so in words.
    click(&admin, &testid("new-user"), "the new-account button").await;
    wait_for(&admin, &testid("new-user-form"), "the new-account form").await;
    type_into(&admin, "new-user-username", ADMIN_USERNAME).await;
    type_into(&admin, "new-user-display-name", DISPLAY_NAME).await;
    type_into(&admin, "new-user-role", "mediator").await;
    type_into(&admin, "new-user-password", FIRST_PASSWORD).await;
    type_into(&admin, "new-user-password-again", FIRST_PASSWORD).await;
    click(&admin, &testid("new-user-submit"), "creating the account").await;
    assert_error_says(
        &admin,
        &testid("new-user-form"),
        "users.username_taken",
        json!({}),
        "a taken username",
    )
    .await;

    // The mediator's account.
    type_into(&admin, "new-user-username", USERNAME).await;
    click(&admin, &testid("new-user-submit"), "creating the account").await;
    let row = user_row(USERNAME);
    wait_for(&admin, &row, "the new account in the list").await;
    assert_eq!(
        shown_text(&admin, &format!("{row} [data-testid=user-display-name]")).await,
        DISPLAY_NAME
    );
    assert_eq!(
        shown_text(&admin, &format!("{row} [data-testid=user-role]")).await,
        words_for(&admin, "role.mediator", json!({})).await
    );
    assert_eq!(
        shown_text(&admin, &format!("{row} [data-testid=user-state]")).await,
        words_for(&admin, "users.state_active", json!({})).await
    );
    assert_eq!(
        shown_text(&admin, &testid("users-status")).await,
        words_for(
            &admin,
            "users.created",
            json!({"name": DISPLAY_NAME, "username": USERNAME})
        )
        .await
    );
    let account = listed_account(&admin_api, USERNAME).await;
    assert_eq!(account["display_name"], DISPLAY_NAME, "{account}");
    assert_eq!(account["role"], "mediator", "{account}");
    assert_eq!(account["disabled"], false, "{account}");
    assert_fits_narrow_screen(&admin, "the users page").await;
    screenshot(&admin, "accounts-users-page").await.ok();

    // Disabled after a confirmation naming whom.
    agree_to_confirmations(&admin).await;
    click(
        &admin,
        &format!("{row} [data-testid=user-toggle]"),
        "disabling",
    )
    .await;
    wait_for_row_disabled(&admin, USERNAME, true).await;
    let question = last_question(&admin).await;
    assert!(
        question.contains(DISPLAY_NAME) && question.contains(USERNAME),
        "the confirmation names the account: {question}"
    );
    assert_eq!(
        shown_text(&admin, &format!("{row} [data-testid=user-state]")).await,
        words_for(&admin, "users.state_disabled", json!({})).await
    );
    assert_eq!(listed_account(&admin_api, USERNAME).await["disabled"], true);

    // The mediator's sign-in is refused with the reason, by the server and on the page.
    try_sign_in(&server, USERNAME, FIRST_PASSWORD)
        .await
        .expect_error(403, "account_disabled")
        .expect("the server refuses a disabled account");
    let laptop = browser
        .new_page(&server.url("/"))
        .await
        .expect("open the mediator's console");
    sign_in(&laptop, USERNAME, FIRST_PASSWORD).await;
    assert_error_says(
        &laptop,
        &testid("login-form"),
        "err.account_disabled",
        json!({}),
        "signing in to a disabled account",
    )
    .await;

    // Enabled again; now the mediator signs in.
    agree_to_confirmations(&admin).await;
    click(
        &admin,
        &format!("{row} [data-testid=user-toggle]"),
        "enabling",
    )
    .await;
    wait_for_row_disabled(&admin, USERNAME, false).await;
    assert_eq!(
        listed_account(&admin_api, USERNAME).await["disabled"],
        false
    );
    sign_in(&laptop, USERNAME, FIRST_PASSWORD).await;
    assert_signed_in(&laptop, "the mediator, enabled again").await;
    assert_eq!(
        laptop
            .evaluate("!!document.querySelector('[data-testid=nav-users]')")
            .await
            .expect("read the header"),
        false,
        "a mediator's header has no users link"
    );

    // The account page says who is signed in.
    laptop
        .set_viewport(NARROW_SCREEN.0, NARROW_SCREEN.1)
        .await
        .expect("a narrow screen");
    click(&laptop, &testid("nav-account"), "the account link").await;
    wait_for(&laptop, &testid("account-page"), "the account page").await;
    assert_eq!(
        shown_text(&laptop, &testid("account-display-name")).await,
        DISPLAY_NAME
    );
    assert_eq!(
        shown_text(&laptop, &testid("account-username")).await,
        USERNAME
    );
    assert_eq!(
        shown_text(&laptop, &testid("account-role")).await,
        words_for(&laptop, "role.mediator", json!({})).await
    );
    assert_fits_narrow_screen(&laptop, "the account page").await;

    // Changing the password: a wrong current one and a short new one are explained.
    let password_form = testid("password-form");
    type_into(&laptop, "current-password", "not the password at all").await;
    type_into(&laptop, "new-password", NEW_PASSWORD).await;
    type_into(&laptop, "new-password-again", NEW_PASSWORD).await;
    click(&laptop, &testid("password-submit"), "changing the password").await;
    assert_error_says(
        &laptop,
        &password_form,
        "err.wrong_password",
        json!({}),
        "a wrong current password",
    )
    .await;
    type_into(&laptop, "current-password", FIRST_PASSWORD).await;
    type_into(&laptop, "new-password", "short").await;
    type_into(&laptop, "new-password-again", "short").await;
    click(&laptop, &testid("password-submit"), "changing the password").await;
    assert_error_says(
        &laptop,
        &password_form,
        "password.too_short",
        json!({"n": SERVER_MIN_PASSWORD_CHARS}),
        "a short new password",
    )
    .await;
    type_into(&laptop, "new-password", NEW_PASSWORD).await;
    type_into(&laptop, "new-password-again", NEW_PASSWORD).await;
    click(&laptop, &testid("password-submit"), "changing the password").await;
    wait_for(
        &laptop,
        "[data-testid=password-changed]:not([hidden])",
        "the password changed",
    )
    .await;
    assert_eq!(
        status_of_me(&laptop).await,
        200,
        "this browser stays signed in"
    );
    screenshot(&laptop, "accounts-account-page").await.ok();

    // The old password no longer works, the new one does: for the server and on a page.
    try_sign_in(&server, USERNAME, FIRST_PASSWORD)
        .await
        .expect_error(401, "unauthenticated")
        .expect("the old password is refused");
    let desk = server.client().expect("client");
    desk.login(USERNAME, NEW_PASSWORD)
        .await
        .expect("the new password signs in");
    let phone = browser
        .new_page(&server.url("/"))
        .await
        .expect("open a second console");
    sign_in(&phone, USERNAME, FIRST_PASSWORD).await;
    assert_error_says(
        &phone,
        &testid("login-form"),
        "login.wrong",
        json!({}),
        "signing in with the old password",
    )
    .await;
    sign_in(&phone, USERNAME, NEW_PASSWORD).await;
    assert_signed_in(&phone, "the mediator with the new password").await;

    // Signing out everywhere: this browser lands on the sign-in form...
    agree_to_confirmations(&laptop).await;
    click(
        &laptop,
        &testid("sign-out-everywhere"),
        "signing out everywhere",
    )
    .await;
    wait_for(&laptop, &testid("login-form"), "the sign-in form after it").await;
    assert_eq!(
        status_of_me(&laptop).await,
        401,
        "this browser is signed out"
    );

    // ...and every other sign-in has ended: the server refuses their next call, and the other
    // browser's page returns to the sign-in form, saying why, as soon as it asks the server.
    desk.get("/api/auth/me")
        .await
        .expect("a reply")
        .expect_error(401, "unauthenticated")
        .expect("the other sign-in's next call is refused");
    assert_eq!(
        status_of_me(&phone).await,
        401,
        "the other browser is signed out"
    );
    click(
        &phone,
        &testid("nav-account"),
        "the other browser's account link",
    )
    .await;
    wait_for(
        &phone,
        &testid("login-notice"),
        "the sign-in form, saying why",
    )
    .await;
    assert_eq!(
        shown_text(&phone, &testid("login-notice")).await,
        words_for(&phone, "err.signed_out", json!({})).await
    );
    assert_eq!(
        phone
            .evaluate("!!document.querySelector('[data-testid=nav-account]')")
            .await
            .expect("read the header"),
        false,
        "the header no longer offers the account"
    );

    // Signing in again there returns to the page it was on.
    sign_in(&phone, USERNAME, NEW_PASSWORD).await;
    wait_for(&phone, &testid("account-page"), "the account page again").await;

    drop((admin, laptop, phone));
    browser.close().await;
    server.shutdown().await;
}
