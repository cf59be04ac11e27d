// Camera and microphone: getting them with fallbacks, and a live microphone level.

// 720p where the camera has it, sent as simulcast layers down to 320x180 (layers.js): the browser
// drops the top layers its uplink cannot carry, the SFU switches off layers nobody receives and
// gives each viewer only the layer its link and tile need. `ideal`: cheap cameras give less.
const VIDEO = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 24, max: 30 },
  facingMode: 'user',
};

// Browsers only offer the camera on https:// or on this computer (localhost).
export function mediaAllowedHere() {
  return window.isSecureContext || ['localhost', '127.0.0.1', '[::1]'].includes(location.hostname);
}

// Returns { stream, problem } where stream may be null (nothing usable) or carry only one
// kind of track; problem is null or one of:
//   'insecure'   the page is not https, the browser hides the devices
//   'unsupported' the browser has no getUserMedia (very old or an in-app browser)
//   'denied'     the person (or the browser settings) refused permission
//   'no-device'  neither camera nor microphone was found
//   'no-camera' / 'no-mic'  one of them is missing or busy, the other works
//   'in-use'     a device exists but another app holds it
// Never throws: people must always be able to join, even with nothing.
export async function getLocalMedia() {
  if (!mediaAllowedHere()) return { stream: null, problem: 'insecure' };
  const md = navigator.mediaDevices;
  if (!md || !md.getUserMedia) return { stream: null, problem: 'unsupported' };

  const attempt = async (constraints) => {
    try {
      return { stream: await md.getUserMedia(constraints) };
    } catch (e) {
      return { error: e };
    }
  };

  const both = await attempt({ audio: { echoCancellation: true, noiseSuppression: true }, video: VIDEO });
  if (both.stream) return { stream: both.stream, problem: null };
  const kind = errorKind(both.error);
  // Asking again after a refusal would only nag (or be refused silently); stop here.
  if (kind === 'denied') return { stream: null, problem: 'denied' };

  // One of the two may be missing or busy: try each alone.
  const audio = await attempt({ audio: true });
  if (audio.stream) return { stream: audio.stream, problem: 'no-camera' };
  const video = await attempt({ video: VIDEO });
  if (video.stream) return { stream: video.stream, problem: 'no-mic' };
  if (errorKind(audio.error) === 'denied' || errorKind(video.error) === 'denied') {
    return { stream: null, problem: 'denied' };
  }
  return { stream: null, problem: kind === 'in-use' ? 'in-use' : 'no-device' };
}

function errorKind(e) {
  switch (e && e.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'denied';
    case 'NotReadableError':
    case 'AbortError':
      return 'in-use';
    default: // NotFoundError, OverconstrainedError, TypeError
      return 'missing';
  }
}

export function stopStream(stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

// Calls onLevel(0..1) about 20 times a second with the microphone's loudness.
export class MicLevel {
  constructor(stream, onLevel) {
    this.onLevel = onLevel;
    this.ctx = null;
    this.timer = null;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx || !stream || stream.getAudioTracks().length === 0) return;
    this.ctx = new Ctx();
    const source = this.ctx.createMediaStreamSource(stream);
    const analyser = this.ctx.createAnalyser();
    analyser.fftSize = 512;
    source.connect(analyser); // not to the speakers: hearing yourself causes feedback
    const samples = new Uint8Array(analyser.fftSize);
    // A timer rather than requestAnimationFrame: it keeps the cost low on slow phones.
    this.timer = setInterval(() => {
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) {
        const x = (s - 128) / 128;
        sum += x * x;
      }
      const rms = Math.sqrt(sum / samples.length);
      this.onLevel(Math.min(1, rms * 4)); // speech sits around 0.05–0.2 rms
    }, 50);
    // Browsers start audio suspended until the first tap: resume on any touch or click.
    this.resume = () => this.ctx && this.ctx.state === 'suspended' && this.ctx.resume();
    this.resume();
    document.addEventListener('pointerdown', this.resume);
  }

  stop() {
    clearInterval(this.timer);
    document.removeEventListener('pointerdown', this.resume);
    if (this.ctx) this.ctx.close();
    this.ctx = null;
  }
}
