// In-app browsers, WeChat's above all: invitation links travel by WeChat, and its browser is
// where most parties open them. On iOS before 14.3 an in-app browser (WKWebView) cannot use
// the camera or microphone at all; elsewhere WeChat's browser can, but not always well. The
// join page uses this to tell people, in plain words, how to open the link in the phone's own
// browser when they must, and to suggest it when they may.

// { wechat, ios: [major, minor] | null, android, canCapture } for a user-agent string.
export function inAppBrowser(ua = navigator.userAgent) {
  const wechat = /MicroMessenger\//i.test(ua);
  const apple = /\b(iPhone|iPad|iPod)\b/.test(ua);
  const version = apple && /\bOS (\d+)_(\d+)/.exec(ua);
  const ios = version ? [Number(version[1]), Number(version[2])] : (apple ? [0, 0] : null);
  const android = /\bAndroid\b/.test(ua);
  // WKWebView gained getUserMedia in iOS 14.3; before it no in-app browser can capture.
  const oldIos = !!ios && (ios[0] < 14 || (ios[0] === 14 && ios[1] < 3));
  return { wechat, ios, android, canCapture: !(wechat && oldIos) };
}

// The i18n key of the steps that open this page in the phone's own browser.
export function openInBrowserSteps(browser) {
  return browser.ios ? 'inapp.steps_ios' : 'inapp.steps_android';
}
