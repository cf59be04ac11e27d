//! The thin layer over the `webm` crate (libwebm): declare tracks, add frames,
//! finalize. Everything about the container format lives in libwebm.

use webm::mux::{
    AudioCodecId, AudioTrack, Segment, SegmentBuilder, SegmentMode, VideoCodecId, VideoTrack,
    Writer,
};

use crate::config::AudioConfig;
use crate::frame::{Codec, Kind};
use crate::opus::{opus_head, OPUS_CLOCK_RATE};
use crate::sink::FileSink;
use crate::Error;

fn muxer(what: &'static str) -> impl FnOnce(webm::mux::Error) -> Error {
    move |source| Error::Muxer { what, source }
}

pub struct Muxer {
    segment: Segment<FileSink>,
    audio: Option<AudioTrack>,
    video: Option<VideoTrack>,
}

impl Muxer {
    /// Declares the tracks. libwebm writes the header with the first frame.
    pub fn start(
        sink: FileSink,
        audio: Option<&AudioConfig>,
        video_size: Option<(u32, u32)>,
    ) -> Result<Self, Error> {
        // File mode with a seekable sink: clusters get their sizes filled in as the
        // next one starts, and `finalize` adds cues and the duration. Until then the
        // segment and the last cluster have "unknown" size, which readers accept, so
        // a file cut short still plays.
        let builder = SegmentBuilder::new(Writer::new(sink))
            .map_err(muxer("initialise the segment"))?
            .set_mode(SegmentMode::File)
            .map_err(muxer("set file mode"))?
            .set_writing_app(concat!("concord-recording ", env!("CARGO_PKG_VERSION")))
            .map_err(muxer("set the writing app"))?;

        let (builder, video) = match video_size {
            Some((w, h)) => {
                let (b, t) = builder
                    .add_video_track(w, h, VideoCodecId::VP8, None)
                    .map_err(muxer("add the video track"))?;
                (b, Some(t))
            }
            None => (builder, None),
        };
        let (builder, audio) = match audio {
            Some(cfg) => {
                if cfg.codec != Codec::Opus {
                    return Err(Error::Unsupported(format!("{:?} audio", cfg.codec)));
                }
                let head = opus_head(cfg.channels, cfg.pre_skip, cfg.input_sample_rate)?;
                let (b, t) = builder
                    .add_audio_track(
                        OPUS_CLOCK_RATE,
                        u32::from(cfg.channels),
                        AudioCodecId::Opus,
                        None,
                    )
                    .map_err(muxer("add the audio track"))?;
                let b = b
                    .set_codec_private(t, &head)
                    .map_err(muxer("set the OpusHead"))?;
                (b, Some(t))
            }
            None => (builder, None),
        };
        Ok(Muxer {
            segment: builder.build(),
            audio,
            video,
        })
    }

    /// `timestamp_ns` must not be below any earlier frame's, on any track.
    pub fn write(
        &mut self,
        kind: Kind,
        data: &[u8],
        timestamp_ns: u64,
        key: bool,
    ) -> Result<(), Error> {
        let track: u64 = match kind {
            Kind::Audio => self.audio.map(Into::into),
            Kind::Video => self.video.map(Into::into),
        }
        .ok_or_else(|| Error::Invalid(format!("{kind:?} frame but no such track")))?;
        self.segment
            .add_frame(track, data, timestamp_ns, key)
            .map_err(muxer("add a frame"))
    }

    /// Writes cues, duration and the final sizes. Fails if no frame was ever added.
    pub fn finish(self) -> Result<FileSink, Error> {
        match self.segment.finalize(None) {
            Ok(writer) => Ok(writer.into_inner()),
            Err(_) => Err(Error::Muxer {
                what: "finalize the segment",
                source: webm::mux::Error::Unknown,
            }),
        }
    }
}
