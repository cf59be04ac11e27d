// Every piece of text the app shows, in Simplified Chinese (the default) and English, side by
// side so a missing translation is easy to spot. Chinese is written for villagers: short,
// plain words (调解员, 当事人, 等候室), no jargon.
//
// Text placed with dom.js `i18n:` remembers its key, so switching language rewrites the page
// in place, even during a call.

const LANGS = ['zh-CN', 'en'];
const STORAGE_KEY = 'concord.lang';

const TABLE = {
  'app.name': ['Concord 视频调解', 'Concord video mediation'],
  'app.other_language': ['English', '中文'],
  'app.needs_https': ['摄像头和麦克风需要安全连接（https）才能使用。请使用以 https:// 开头的链接打开本页。', 'Camera and microphone need a secure connection (HTTPS). Please open this page with a link that starts with https://.'],
  'app.not_found': ['没有这个页面。', 'This page does not exist.'],

  'nav.home': ['回到首页', 'Go to the start page'],
  'nav.back_to_list': ['← 纠纷列表', '← All disputes'],
  'nav.back_to_dispute': ['← 返回案件', '← Back to the dispute'],
  'nav.back_to_session': ['返回调解场次', 'Back to the session'],
  'nav.account': ['账户', 'Account'],
  'nav.users': ['用户', 'Users'],

  'common.loading': ['正在加载…', 'Loading…'],
  'common.retry': ['重试', 'Try again'],
  'common.cancel': ['取消', 'Cancel'],
  'common.save': ['保存', 'Save'],
  'common.saved': ['已保存', 'Saved'],

  'login.title': ['工作人员登录', 'Staff sign-in'],
  'login.username': ['用户名', 'Username'],
  'login.password': ['密码', 'Password'],
  'login.submit': ['登录', 'Sign in'],
  'login.wrong': ['用户名或密码不对。', 'Wrong username or password.'],
  'login.logout': ['退出登录', 'Sign out'],

  'setup.title': ['首次设置', 'First-time setup'],
  'setup.intro': ['请创建管理员账号。以后用它登录并为调解员开设账号。', 'Create the administrator account. You will use it to sign in and to create accounts for mediators.'],
  'setup.username': ['用户名（登录用）', 'Username (for signing in)'],
  'setup.display_name': ['姓名（显示给别人看）', 'Display name (shown to others)'],
  'setup.password': ['密码', 'Password'],
  'setup.password_again': ['再输一次密码', 'Password again'],
  'setup.submit': ['创建管理员', 'Create the administrator'],

  'password.hint': ['至少 {n} 个字符。', 'At least {n} characters.'],
  'password.too_short': ['密码太短，至少要 {n} 个字符。', 'The password is too short: at least {n} characters.'],
  'password.too_long': ['密码太长了，请短一些。', 'The password is too long; please make it shorter.'],
  'password.mismatch': ['两次输入的密码不一样。', 'The two passwords are not the same.'],

  'account.title': ['我的账户', 'My account'],
  'account.display_name': ['姓名', 'Name'],
  'account.username': ['用户名', 'Username'],
  'account.role': ['身份', 'Role'],
  'account.change_password': ['修改密码', 'Change your password'],
  'account.change_password_hint': ['改好后，您在其他手机和电脑上的登录都会退出，这台设备上的不受影响。', 'Once it is changed, you are signed out on your other phones and computers; this device stays signed in.'],
  'account.current_password': ['现在的密码', 'Current password'],
  'account.new_password': ['新密码', 'New password'],
  'account.new_password_again': ['再输一次新密码', 'New password again'],
  'account.password_submit': ['修改密码', 'Change the password'],
  'account.password_changed': ['密码已修改。其他设备上的登录已经退出。', 'Your password was changed. Your other devices have been signed out.'],
  'account.sign_out_everywhere': ['在所有设备上退出', 'Sign out everywhere'],
  'account.sign_out_everywhere_hint': ['手机丢了，或者在别人的电脑上登录过？点这里，所有设备上的登录都会退出，包括这一台。', 'Lost a phone, or signed in on someone else\'s computer? This signs you out on every device, this one included.'],
  'account.sign_out_everywhere_confirm': ['确定要在所有设备上退出吗？这台设备也会退出，需要重新登录。', 'Sign out on every device? This one too: you will need to sign in again.'],

  'users.title': ['用户账号', 'User accounts'],
  'users.new': ['新建账号', 'New account'],
  'users.create': ['创建账号', 'Create the account'],
  'users.username': ['用户名（登录用）', 'Username (for signing in)'],
  'users.username_hint': ['只能用英文字母、数字和 . _ -', 'Letters, digits, ".", "_" and "-" only.'],
  'users.username_invalid': ['用户名只能用英文字母、数字和 . _ -，最多 64 个字符。', 'The username may contain only letters, digits, ".", "_" and "-", at most 64 of them.'],
  'users.username_taken': ['这个用户名已经有人用了，请换一个。', 'That username is taken; please choose another.'],
  'users.display_name': ['姓名（显示给别人看）', 'Display name (shown to others)'],
  'users.role': ['身份', 'Role'],
  'users.role_hint': ['调解员：登记纠纷、主持视频调解。工作人员：查看纠纷和录像。管理员：还可以管理账号。', 'Mediator: registers disputes and hosts video sessions. Staff: reads disputes and recordings. Administrator: also manages accounts.'],
  'users.password': ['初始密码', 'First password'],
  'users.password_hint': ['至少 {n} 个字符。请当面或打电话告诉对方，并请对方登录后在「账户」里改成自己的密码。', 'At least {n} characters. Tell it to the person face to face or by phone, and ask them to change it under "Account" after signing in.'],
  'users.password_again': ['再输一次初始密码', 'First password again'],
  'users.created': ['已为{name}创建账号，用户名：{username}', 'Account created for {name}, username: {username}'],
  'users.state_active': ['正常使用', 'Active'],
  'users.state_disabled': ['已停用', 'Disabled'],
  'users.yours': ['这是您自己的账号', 'This is your own account'],
  'users.disable': ['停用', 'Disable'],
  'users.enable': ['重新启用', 'Enable again'],
  'users.disable_label': ['停用{name}的账号', 'Disable the account of {name}'],
  'users.enable_label': ['重新启用{name}的账号', 'Enable the account of {name} again'],
  'users.disable_confirm': ['确定要停用“{name}”（{username}）的账号吗？对方会马上在所有设备上退出，重新启用之前不能登录。', 'Disable the account of "{name}" ({username})? They are signed out on every device at once and cannot sign in until it is enabled again.'],
  'users.enable_confirm': ['确定要重新启用“{name}”（{username}）的账号吗？启用后可以用原来的密码登录。', 'Enable the account of "{name}" ({username}) again? They can then sign in with their password.'],
  'users.disabled_done': ['已停用{name}的账号。', 'The account of {name} was disabled.'],
  'users.enabled_done': ['已重新启用{name}的账号。', 'The account of {name} was enabled again.'],
  'users.cannot_disable_self': ['不能停用您自己的账号。', 'You cannot disable your own account.'],

  'role.mediator': ['调解员', 'Mediator'],
  'role.party': ['当事人', 'Party'],
  'role.expert': ['专家', 'Expert'],
  'role.observer': ['旁听人员', 'Observer'],
  'role.staff': ['工作人员', 'Staff'],
  'role.admin': ['管理员', 'Administrator'],
  'role.host': ['主持调解员', 'Host mediator'],

  'status.open': ['待调解', 'Open'],
  'status.in_mediation': ['调解中', 'In mediation'],
  'status.settled': ['已调解成功', 'Settled'],
  'status.escalated': ['已上报', 'Escalated'],
  'status.closed': ['已结案', 'Closed'],
  'session_status.scheduled': ['未开始', 'Scheduled'],
  'session_status.live': ['进行中', 'Live'],
  'session_status.ended': ['已结束', 'Ended'],
  'level.village': ['村级', 'Village'],
  'level.township': ['乡镇级', 'Township'],
  'level.county': ['县级', 'County'],
  'category.land': ['土地纠纷', 'Land'],
  'category.family': ['婚姻家庭', 'Marriage and family'],
  'category.neighbour': ['邻里纠纷', 'Neighbours'],
  'category.contract': ['合同纠纷', 'Contract'],
  'category.labour': ['劳动报酬', 'Wages and labour'],
  'category.debt': ['借款债务', 'Loans and debts'],
  'category.other': ['其他', 'Other'],

  'disputes.title': ['纠纷列表', 'Disputes'],
  'disputes.new': ['登记新纠纷', 'Register a dispute'],
  'disputes.none': ['还没有登记任何纠纷。', 'No disputes registered yet.'],
  'disputes.create': ['登记', 'Register'],

  'dispute.case_number': ['案件编号', 'Case number'],
  'dispute.title': ['纠纷名称', 'Title'],
  'dispute.category': ['纠纷类型', 'Category'],
  'dispute.level': ['调解级别', 'Level'],
  'dispute.status': ['状态', 'Status'],
  'dispute.description': ['情况说明', 'Description'],
  'dispute.outcome': ['调解结果', 'Outcome'],
  'dispute.outcome_hint': ['调解成功或上报时，简单写明结果。', 'When settled or escalated, note the outcome briefly.'],
  'dispute.created_at': ['登记时间', 'Registered'],
  'dispute.updated_at': ['最后更新', 'Last updated'],
  'dispute.parties': ['当事人', 'Parties'],
  'dispute.add_party': ['+ 再加一位当事人', '+ Add another party'],
  'dispute.remove_party': ['删除这位当事人', 'Remove this party'],
  'dispute.party_name': ['姓名', 'Name'],
  'dispute.party_phone': ['手机号（可不填）', 'Phone (optional)'],
  'dispute.need_party': ['请至少填写一位当事人的姓名。', 'Enter the name of at least one party.'],
  'dispute.sessions': ['视频调解场次', 'Video sessions'],
  'dispute.no_sessions': ['还没有开过视频调解。', 'No video sessions yet.'],
  'dispute.change_status': ['更改状态', 'Change the status'],
  'dispute.open_session': ['开设视频调解', 'Open a video session'],
  'dispute.new_session': ['新的视频调解', 'New video session'],
  'dispute.lobby_label': ['使用等候室', 'Use a waiting room'],
  'dispute.lobby_hint': ['开启后，被邀请的人要等调解员同意才能进入。', 'When on, invited people wait until the mediator lets them in.'],
  'dispute.scheduled_at': ['预定时间（可不填）', 'Planned time (optional)'],
  'dispute.scheduled_hint': ['只用于记录，不会自动开始。', 'For the record only; nothing starts by itself.'],
  'dispute.record_by_default': ['默认录像', 'Record by default'],
  'dispute.record_by_default_hint': ['开启后，这个案件的视频调解会自动录像；开始前，每个人都会先看到提示。', 'When on, this dispute\'s video sessions are recorded automatically; everyone sees a notice before it starts.'],

  'recordings.title': ['录像', 'Recordings'],
  'recordings.none': ['这个案件还没有录像。', 'No recordings for this dispute yet.'],
  'recordings.refresh': ['刷新', 'Refresh'],
  'rec_status.recording': ['正在录像', 'Recording'],
  'rec_status.finished': ['已完成', 'Finished'],
  'rec_status.interrupted': ['中断（已保存录到的部分）', 'Interrupted (what was recorded is kept)'],
  'rec_status.failed': ['失败', 'Failed'],
  'recordings.error': ['原因：{message}', 'Reason: {message}'],
  'recordings.time': ['{start} 至 {end}', '{start} to {end}'],
  'recordings.time_open': ['{start} 开始', 'Started {start}'],
  'recordings.no_files': ['没有录像文件。', 'No files.'],
  'recordings.kind_composite': ['合成画面（所有人）', 'Combined view (everyone)'],
  'recordings.composite_pending': ['合成画面等待生成…', 'The combined view is waiting to be made…'],
  'recordings.composite_running': ['正在生成合成画面：{n}%', 'Making the combined view: {n}%'],
  'recordings.composite_failed': ['合成画面生成失败，各人的原始录像仍完整保存。', 'The combined view could not be made; everyone\'s own recording is kept.'],
  'recordings.composite_interrupted': ['生成合成画面时服务器停止了，合成画面没有完成；各人的原始录像仍完整保存。', 'The server stopped while making the combined view, so it was not finished; everyone\'s own recording is kept.'],
  'recordings.cannot_play': ['这个浏览器不能直接播放此文件，请下载后用播放器（如 VLC）观看。', 'This browser cannot play this file; download it and watch it in a player such as VLC.'],
  'recordings.kind_manifest': ['文件清单（含校验值）', 'File list (with checksums)'],
  'rec_file_status.writing': ['正在写入', 'Being written'],
  'rec_file_status.interrupted': ['中断', 'Interrupted'],
  'rec_file_status.failed': ['失败', 'Failed'],
  'recordings.duration': ['时长 {d}', 'Length {d}'],
  'recordings.size': ['大小 {s}', 'Size {s}'],
  'recordings.sha256': ['SHA-256 校验值', 'SHA-256 checksum'],
  'recordings.copy_hash': ['复制校验值', 'Copy the checksum'],
  'recordings.copied': ['已复制', 'Copied'],
  'recordings.play': ['播放', 'Play'],
  'recordings.close_player': ['收起', 'Close'],
  'recordings.open': ['打开', 'Open'],
  'recordings.download': ['下载', 'Download'],
  'recordings.manifest_hash': ['清单校验值', 'Manifest checksum'],
  'recordings.audit': ['查看和下载记录（{n}）', 'Plays and downloads ({n})'],
  'rec_audit.play': ['播放', 'played'],
  'rec_audit.download': ['下载', 'downloaded'],

  'session.status': ['场次状态', 'Session status'],
  'session.lobby': ['等候室', 'Waiting room'],
  'session.lobby_on': ['有等候室', 'Waiting room on'],
  'session.lobby_off': ['无等候室', 'No waiting room'],
  'session.scheduled_at': ['预定时间', 'Planned for'],
  'session.started_at': ['开始时间', 'Started'],
  'session.ended_at': ['结束时间', 'Ended'],
  'session.enter_room': ['进入视频调解室', 'Enter the room'],
  'session.invitations': ['邀请链接', 'Invitations'],
  'session.no_invitations': ['还没有邀请任何人。', 'Nobody has been invited yet.'],

  'invite.new': ['邀请一个人', 'Invite someone'],
  'invite.role': ['身份', 'Role'],
  'invite.name': ['姓名', 'Name'],
  'invite.phone': ['手机号（可不填）', 'Phone (optional)'],
  'invite.phone_hint': ['填了手机号，可以直接发短信把链接给他。', 'With a phone number you can send the link by text message.'],
  'invite.validity': ['链接有效期', 'Link valid for'],
  'invite.valid_60': ['1 小时', '1 hour'],
  'invite.valid_240': ['4 小时', '4 hours'],
  'invite.valid_1440': ['1 天', '1 day'],
  'invite.valid_4320': ['3 天', '3 days'],
  'invite.valid_10080': ['7 天', '7 days'],
  'invite.create': ['生成邀请链接', 'Create the link'],
  'invite.link_for': ['给{name}的邀请链接', 'Invitation link for {name}'],
  'invite.shown_once': ['这个链接只显示这一次，请现在复制或发送。', 'This link is shown only once: copy or send it now.'],
  'invite.copy': ['复制链接', 'Copy link'],
  'invite.copied': ['已复制', 'Copied'],
  'invite.copy_by_hand': ['已选中链接，请长按或按 Ctrl+C 复制', 'The link is selected: long-press or press Ctrl+C to copy'],
  'invite.share': ['分享', 'Share'],
  'invite.sms': ['发短信', 'Send by text'],
  'invite.share_text': ['{name}您好，请点下面的链接参加“{title}”的视频调解：', 'Hello {name}, please open this link to join the video mediation "{title}":'],
  'invite.revoke': ['收回链接', 'Revoke'],
  'invite.state_active': ['有效', 'Active'],
  'invite.state_expired': ['已过期', 'Expired'],
  'invite.state_revoked': ['已收回', 'Revoked'],
  'invite.expires': ['有效期到 {time}', 'Valid until {time}'],
  'invite.last_used': ['最近使用 {time}', 'Last used {time}'],

  'invite.invitation_unknown_title': ['链接不对', 'This link is not right'],
  'invite.invitation_unknown_text': ['这个邀请链接无法识别。请检查链接是否完整，或者请调解员重新发一次。', 'This invitation link is not recognised. Check that the whole link was copied, or ask the mediator to send it again.'],
  'invite.invitation_expired_title': ['链接已过期', 'This link has expired'],
  'invite.invitation_expired_text': ['这个邀请链接已经过期了。请联系调解员，请他给您发一个新的链接。', 'This invitation link has expired. Please ask the mediator to send you a new link.'],
  'invite.invitation_revoked_title': ['链接已收回', 'This link was withdrawn'],
  'invite.invitation_revoked_text': ['调解员已经收回了这个邀请链接。如有疑问，请联系调解员。', 'The mediator has withdrawn this invitation link. If in doubt, please contact the mediator.'],
  'invite.session_ended_title': ['调解已结束', 'The mediation is over'],
  'invite.session_ended_text': ['这次视频调解已经结束了。谢谢您的参与。', 'This video mediation session has ended. Thank you for taking part.'],
  'invite.rate_limited_title': ['尝试次数太多', 'Too many attempts'],
  'invite.rate_limited_text': ['尝试的次数太多了。请等一分钟后再打开链接。', 'There were too many attempts. Please wait one minute, then open the link again.'],
  'invite.network_title': ['暂时连不上', 'Cannot connect right now'],
  'invite.network_text': ['连接服务器失败。请检查手机网络，然后重试。', 'Could not reach the server. Check your network connection and try again.'],

  'join.hello': ['{name}，您好！', 'Hello, {name}!'],
  'join.your_role': ['您的身份：', 'You join as:'],
  'join.case': ['调解事项：', 'Case:'],
  'join.wechat': ['在微信里可能无法打开摄像头。如果看不到自己的画面，请点右上角「···」，选择「在浏览器打开」。', 'The camera may not work inside WeChat. If you cannot see yourself, tap "···" at the top right and choose "Open in browser".'],
  'join.button': ['进入视频调解', 'Join the mediation'],
  'join.observer_hint': ['旁听人员只能看和听，别人看不到您、也听不到您。', 'Observers only watch and listen: nobody sees or hears you.'],
  'join.privacy': ['视频只在本次调解中使用。您可以随时关闭摄像头或麦克风。', 'The video is used only for this mediation. You can switch your camera or microphone off at any time.'],

  'check.title': ['检查摄像头和麦克风', 'Check your camera and microphone'],
  'check.opening': ['正在打开摄像头… 如果手机询问，请点“允许”。', 'Opening the camera… If your phone asks, tap "Allow".'],
  'check.speak_hint': ['请说句话：绿色条会跳动，说明麦克风正常。', 'Say something: the green bar moves when the microphone works.'],
  'check.camera_off': ['摄像头已关闭', 'Camera is off'],
  'check.no_camera': ['没有摄像头画面', 'No camera picture'],
  'check.observer': ['您以旁听人员身份加入，只看和听，不需要摄像头和麦克风。', 'You join as an observer: you watch and listen, no camera or microphone needed.'],
  'check.problem_denied': ['没有得到使用摄像头和麦克风的允许。请在浏览器设置里允许本网站使用摄像头和麦克风，然后点“重试”。', 'Permission to use the camera and microphone was refused. Allow this site to use them in the browser settings, then tap "Try again".'],
  'check.problem_no-device': ['没有找到摄像头和麦克风。', 'No camera or microphone was found.'],
  'check.problem_no-camera': ['没有找到摄像头（或正被其他应用占用），只能用声音参加。', 'No camera was found (or another app is using it): you will join with sound only.'],
  'check.problem_no-mic': ['没有找到麦克风（或正被其他应用占用），别人将听不到您。', 'No microphone was found (or another app is using it): others will not hear you.'],
  'check.problem_in-use': ['摄像头或麦克风正被其他应用使用。请关闭其他应用（比如微信视频通话），然后点“重试”。', 'Another app is using the camera or microphone. Close it (for example a WeChat video call), then tap "Try again".'],
  'check.problem_insecure': ['这个网页不是安全连接（https），浏览器不让使用摄像头。', 'This page is not on a secure connection (HTTPS), so the browser blocks the camera.'],
  'check.problem_unsupported': ['这个浏览器不能使用摄像头。请用手机自带的浏览器或 Chrome 打开链接。', 'This browser cannot use the camera. Please open the link in your phone\'s own browser or in Chrome.'],
  'check.can_still_join': ['您仍然可以进入，看和听别人。', 'You can still join to watch and listen.'],
  'check.retry': ['重试', 'Try again'],

  'room.connecting': ['正在连接…', 'Connecting…'],
  'room.alone': ['其他人还没有进来，请稍等。', 'Nobody else is here yet. Please wait.'],
  'room.me': ['（我）', '(me)'],
  'room.kick': ['请出', 'Remove'],
  'room.mic_is_off': ['麦克风已关', 'Microphone off'],
  'room.cam_is_off': ['摄像头已关', 'Camera off'],
  'room.audio_on': ['麦克风开着', 'Mic on'],
  'room.audio_off': ['麦克风已关', 'Mic off'],
  'room.video_on': ['摄像头开着', 'Camera on'],
  'room.video_off': ['摄像头已关', 'Camera off'],
  'room.no_audio': ['没有麦克风', 'No microphone'],
  'room.audio_label': ['麦克风', 'Microphone'],
  'room.video_label': ['摄像头', 'Camera'],
  'room.no_video': ['没有摄像头', 'No camera'],
  'room.mute_audio': ['关闭麦克风', 'Turn the microphone off'],
  'room.unmute_audio': ['打开麦克风', 'Turn the microphone on'],
  'room.mute_video': ['关闭摄像头', 'Turn the camera off'],
  'room.unmute_video': ['打开摄像头', 'Turn the camera on'],
  'room.leave': ['离开', 'Leave'],
  'room.end_session': ['结束调解', 'End session'],
  'room.end_confirm': ['确定要结束这次视频调解吗？所有人都会被请出。', 'End this video session? Everyone will be disconnected.'],
  'room.enable_sound': ['点这里打开声音', 'Tap to turn on the sound'],
  'room.record': ['录像', 'Record'],
  'room.stop_record': ['停止录像', 'Stop recording'],
  'room.start_recording': ['开始录像', 'Start recording'],
  'room.stop_recording': ['停止录像', 'Stop recording'],
  'room.stop_recording_confirm': ['确定要停止录像吗？', 'Stop recording?'],
  'room.audio_only': ['仅语音', 'Voice only'],
  'room.audio_only_enter': ['改为仅语音：不收发画面，声音更稳', 'Switch to voice only: no video sent or received, steadier sound'],
  'room.audio_only_leave': ['恢复视频', 'Turn video back on'],
  'room.video_paused_weak': ['网络较弱，画面已暂停', 'Video paused, weak network'],
  'room.reconnecting_tile': ['正在重新连接…', 'Reconnecting…'],

  'suggest.audio_only': ['您的网络很弱。改为仅语音，声音会更清楚。', 'Your network is very weak. Switch to voice only for clearer sound.'],
  'suggest.audio_only_button': ['改为仅语音', 'Switch to voice only'],
  'suggest.dismiss': ['不用了', 'No, thanks'],

  'quality.good': ['网络良好', 'Good connection'],
  'quality.fair': ['网络一般', 'Fair connection'],
  'quality.poor': ['网络较差', 'Poor connection'],
  'quality.good_details': ['网络良好：丢包 {loss}%，延迟 {rtt} 毫秒，下行 {down} kbit/s', 'Good connection: loss {loss}%, round trip {rtt} ms, downlink {down} kbit/s'],
  'quality.fair_details': ['网络一般：丢包 {loss}%，延迟 {rtt} 毫秒，下行 {down} kbit/s', 'Fair connection: loss {loss}%, round trip {rtt} ms, downlink {down} kbit/s'],
  'quality.poor_details': ['网络较差：丢包 {loss}%，延迟 {rtt} 毫秒，下行 {down} kbit/s', 'Poor connection: loss {loss}%, round trip {rtt} ms, downlink {down} kbit/s'],
  'quality.details': ['丢包 {loss}% · 延迟 {rtt} 毫秒 · 下行 {down} kbit/s', 'Loss {loss}% · RTT {rtt} ms · Down {down} kbit/s'],

  'rec.notice': ['录像将在 {n} 秒后开始', 'Recording starts in {n} s'],
  'rec.starting': ['录像即将开始', 'Recording is about to start'],
  'rec.on': ['正在录像', 'Recording'],
  'rec.failed_host': ['录像出错：{message}', 'Recording failed: {message}'],
  'rec.failed': ['录像出错了', 'Recording failed'],
  'rec.stopped': ['录像已停止', 'Recording has stopped'],
  'rec.consent_question': ['调解员将对本次调解录像，录像将存入案卷。您是否同意？', 'The mediator will record this session, and the recording will be kept in the case file. Do you agree?'],
  'rec.consent_yes': ['同意', 'I agree'],
  'rec.consent_no': ['不同意', 'I do not agree'],
  'rec.answered_yes': ['您已同意录像', 'You agreed to the recording'],
  'rec.answered_no': ['您不同意录像，调解员已收到', 'You objected to the recording; the mediator has been told'],
  'rec.answers_title': ['对录像的意见', 'Answers to the recording notice'],
  'rec.agreed': ['同意', 'agreed'],
  'rec.objected': ['不同意', 'objected'],


  'lobby.please_wait': ['请稍候，调解员马上让您进入', 'Please wait, the mediator will let you in shortly'],
  'lobby.keep_open': ['您在等候室里。请不要关闭这个页面。', 'You are in the waiting room. Please keep this page open.'],
  'lobby.waiting_count': ['等候室里有 {n} 人', '{n} waiting to be let in'],
  'lobby.admit': ['同意进入', 'Let in'],
  'lobby.refuse': ['拒绝', 'Turn away'],

  'event.joined': ['{name} 进来了', '{name} joined'],
  'event.left_left': ['{name} 离开了', '{name} left'],
  'event.left_kicked': ['{name} 已被请出', '{name} was removed'],
  'event.left_disconnected': ['{name} 掉线了', '{name} lost the connection'],
  'event.reconnecting': ['{name} 的网络断了，正在重新连接…', '{name} lost the connection, reconnecting…'],
  'event.reconnected': ['{name} 已重新连上', '{name} is back'],
  'event.left_refused': ['{name} 未被允许进入', '{name} was turned away'],
  'event.mic_off': ['{name} 关闭了麦克风', '{name} turned the microphone off'],
  'event.mic_on': ['{name} 打开了麦克风', '{name} turned the microphone on'],
  'event.cam_off': ['{name} 关闭了摄像头', '{name} turned the camera off'],
  'event.cam_on': ['{name} 打开了摄像头', '{name} turned the camera on'],
  'event.waiting': ['{name} 在等候室等待', '{name} is waiting to be let in'],
  'event.recording_on': ['录像开始了', 'Recording has started'],
  'event.recording_off': ['录像已停止', 'Recording has stopped'],
  'event.consent_yes': ['{name} 同意录像', '{name} agreed to the recording'],
  'event.consent_no': ['{name} 不同意录像', '{name} objected to the recording'],
  'event.audio_only_on': ['已改为仅语音：不收发画面', 'Voice only: no video is sent or received'],
  'event.audio_only_off': ['已恢复视频', 'Video is back on'],

  'banner.connecting': ['正在连接…', 'Connecting…'],
  'banner.reconnecting': ['网络不稳定，正在重新连接…', 'The network is unstable, reconnecting…'],
  'banner.lost': ['连接已断开。', 'The connection was lost.'],
  'banner.media_slow': ['视频一直连不上，可能是网络限制。', 'The video cannot connect; the network may be blocking it.'],
  'banner.rejoin': ['重新进入', 'Rejoin'],

  'end.refused_title': ['未能进入', 'Not let in'],
  'end.refused': ['调解员没有让您进入这次调解。如有疑问，请联系调解员。', 'The mediator did not let you into this session. If in doubt, please contact the mediator.'],
  'end.kicked_title': ['您已离开调解', 'You were removed'],
  'end.kicked': ['调解员已把您请出这次视频调解。', 'The mediator removed you from this video session.'],
  'end.session_ended_title': ['调解已结束', 'The mediation is over'],
  'end.session_ended': ['这次视频调解已经结束了。谢谢您的参与。', 'This video mediation session has ended. Thank you for taking part.'],
  'end.left_title': ['您已离开', 'You left'],
  'end.left': ['您已离开视频调解。', 'You have left the video session.'],
  'end.error_title': ['无法进入', 'Could not join'],
  'end.join_again': ['重新进入', 'Join again'],

  'err.bad_request': ['请求有误，请检查后重试。', 'Something in the request was wrong. Please check and try again.'],
  'err.validation_failed': ['填写的内容有误，请检查后重试。', 'Some of the entries are not valid. Please check them.'],
  'err.unauthenticated': ['请先登录。', 'Please sign in first.'],
  'err.forbidden': ['您没有权限做这件事。', 'You are not allowed to do this.'],
  'err.not_found': ['找不到这条记录。', 'This record was not found.'],
  'err.conflict': ['这条记录已经存在或已被改动。', 'This record already exists or was changed meanwhile.'],
  'err.payload_too_large': ['内容太长了。', 'The entry is too long.'],
  'err.rate_limited': ['尝试次数太多，请等一分钟再试。', 'Too many attempts. Please wait a minute.'],
  'err.signed_out': ['您的登录已结束，请重新登录。', 'Your sign-in has ended. Please sign in again.'],
  'err.wrong_password': ['现在的密码不对，请重新输入。', 'The current password is not right. Please type it again.'],
  'err.account_disabled': ['这个账号已被停用，请联系管理员。', 'This account has been disabled. Please ask the administrator.'],
  'err.cross_origin': ['不接受来自其他网站的请求。', 'Requests from other sites are not accepted.'],
  'err.internal': ['服务器出了问题，请稍后再试。', 'The server had a problem. Please try again later.'],
  'err.network': ['连不上服务器，请检查网络后重试。', 'Cannot reach the server. Check your network and try again.'],
  'err.unknown': ['出了点问题，请稍后再试。', 'Something went wrong. Please try again later.'],
  'err.invitation_unknown': ['这个邀请链接不对。', 'This invitation link is not right.'],
  'err.invitation_expired': ['这个邀请链接已过期。', 'This invitation link has expired.'],
  'err.invitation_revoked': ['这个邀请链接已被收回。', 'This invitation link was withdrawn.'],
  'err.session_not_found': ['找不到这次视频调解。', 'This video session was not found.'],
  'err.session_ended': ['这次视频调解已经结束了。', 'This video session has ended.'],
  'err.not_admitted': ['还没有被允许进入。', 'You have not been let in yet.'],
  'err.unknown_participant': ['这个人已经不在了。', 'This person is no longer here.'],
  'err.media_failed': ['视频连接中断，正在重新连接…', 'The video connection failed, reconnecting…'],
  'err.bad_message': ['消息有误。', 'A message was not understood.'],
  'err.bad_sdp': ['视频设置有误。', 'The video setup was not understood.'],
  'err.busy': ['服务器正忙，请稍等片刻再试。', 'The server is busy. Please try again in a moment.'],
  'err.message_too_large': ['消息太长了。', 'The message is too long.'],
  'err.not_joined': ['还没有进入视频调解。', 'You have not joined yet.'],
  'err.already_joined': ['您已经进入了。', 'You have already joined.'],
  'err.join_timeout': ['进入超时，请重新打开链接。', 'Joining took too long. Please open the link again.'],
  'err.resume_refused': ['无法恢复连接，请重新进入。', 'The connection could not be resumed. Please join again.'],
  'err.too_many_candidates': ['发送的网络地址太多，无法连接。', 'Too many network addresses were sent.'],
  'err.recording_failed': ['录像出了问题。', 'The recording failed.'],
  'err.joined_elsewhere': ['您已在另一个窗口或设备上进入。', 'You joined from another window or device.'],
  'err.server_stopping': ['服务器正在重启，请稍后重新进入。', 'The server is restarting. Please join again shortly.'],
};

function stored() {
  try {
    const l = localStorage.getItem(STORAGE_KEY);
    return LANGS.includes(l) ? l : null;
  } catch {
    return null; // storage can be disabled (private mode, some in-app browsers)
  }
}

let current = stored() || 'zh-CN';

export function lang() {
  return current;
}

export function otherLang() {
  return current === 'zh-CN' ? 'en' : 'zh-CN';
}

export function hasKey(key) {
  return Object.prototype.hasOwnProperty.call(TABLE, key);
}

// The text for `key` in the current language, with {name} placeholders filled from vars.
// An unknown key comes back as itself, so a gap shows up on screen instead of breaking it.
export function t(key, vars) {
  const entry = TABLE[key];
  let text = entry ? entry[LANGS.indexOf(current)] : key;
  if (vars) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  return text;
}

// Switches language, remembers it, and rewrites every translated text on the page in place.
export function setLang(next) {
  if (!LANGS.includes(next)) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // not remembered, but the switch still works for this page
  }
  document.documentElement.lang = next;
  translateDom(document);
  document.dispatchEvent(new CustomEvent('langchange', { detail: next }));
}

function translateDom(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-label]')) {
    const vars = el.dataset.i18nLabelVars ? JSON.parse(el.dataset.i18nLabelVars) : undefined;
    el.setAttribute('aria-label', t(el.dataset.i18nLabel, vars));
    el.title = t(el.dataset.i18nLabel, vars);
  }
}
