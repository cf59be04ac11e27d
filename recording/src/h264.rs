//! Just enough H.264 (ITU-T H.264 §7.3) to record it into Matroska: the access units the tap's
//! `FrameAssembler` puts together are Annex-B (start codes before each NAL unit), Matroska's
//! `V_MPEG4/ISO/AVC` wants each NAL unit behind a 4-byte length and the parameter sets in an
//! AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3) as CodecPrivate. The sequence
//! parameter set is read for the picture size, which the track header declares and a change of
//! which is reported.

use crate::Error;

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
/// Bytes of the length before each NAL unit in the file; `lengthSizeMinusOne` says 3.
const LENGTH_SIZE: usize = 4;

/// The NAL units of an Annex-B access unit (3- or 4-byte start codes), without start codes.
pub fn nal_units(access_unit: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= access_unit.len() {
        if access_unit[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&next| {
            // A 4-byte start code's leading zero belongs to no NAL unit; trailing zeros
            // (trailing_zero_8bits) neither.
            let mut end = next - 3;
            while end > 0 && access_unit[end - 1] == 0 {
                end -= 1;
            }
            end
        })
        .chain(std::iter::once(access_unit.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .filter(|(start, end)| end > start)
        .map(move |(start, end)| &access_unit[start..end])
}

fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// What the NAL units of a frame say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H264Header {
    /// An IDR picture; `size` when a sequence parameter set came with it.
    Key {
        size: Option<(u16, u16)>,
    },
    Inter,
}

/// Parses an Annex-B access unit. `None` when it holds no NAL unit (not Annex-B, or empty).
pub fn parse(access_unit: &[u8]) -> Option<H264Header> {
    let mut any = false;
    let mut idr = false;
    let mut size = None;
    for nal in nal_units(access_unit) {
        any = true;
        match nal_type(nal) {
            NAL_IDR => idr = true,
            NAL_SPS => size = size.or_else(|| Sps::parse(nal).map(|s| (s.width, s.height))),
            _ => {}
        }
    }
    match (any, idr) {
        (false, _) => None,
        (true, true) => Some(H264Header::Key { size }),
        (true, false) => Some(H264Header::Inter),
    }
}

/// The access unit as Matroska stores it: each NAL unit behind its 4-byte big-endian length.
/// Parameter sets stay in the stream, so a decoder follows a change of resolution.
pub fn to_length_prefixed(access_unit: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(access_unit.len() + 16);
    for nal in nal_units(access_unit) {
        let len = u32::try_from(nal.len())
            .map_err(|_| Error::Invalid("an H.264 NAL unit over 4 GiB".into()))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(nal);
    }
    if out.is_empty() {
        return Err(Error::Invalid("an H.264 frame without NAL units".into()));
    }
    Ok(out)
}

/// The sequence and picture parameter sets a decoder needs before the first picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    pub sps: Vec<u8>,
    pub pps: Vec<u8>,
}

impl ParameterSets {
    /// The first SPS and PPS of an access unit (a WebRTC keyframe carries both).
    pub fn from_access_unit(access_unit: &[u8]) -> Option<ParameterSets> {
        let mut sps = None;
        let mut pps = None;
        for nal in nal_units(access_unit) {
            match nal_type(nal) {
                NAL_SPS if sps.is_none() && Sps::parse(nal).is_some() => sps = Some(nal),
                NAL_PPS if pps.is_none() => pps = Some(nal),
                _ => {}
            }
        }
        Some(ParameterSets {
            sps: sps?.to_vec(),
            pps: pps?.to_vec(),
        })
    }

    /// Picture size from the SPS.
    pub fn size(&self) -> Option<(u16, u16)> {
        Sps::parse(&self.sps).map(|s| (s.width, s.height))
    }

    /// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), Matroska's CodecPrivate.
    pub fn decoder_configuration(&self) -> Result<Vec<u8>, Error> {
        let sps = Sps::parse(&self.sps)
            .ok_or_else(|| Error::Invalid("unreadable H.264 sequence parameter set".into()))?;
        let too_long = |_| Error::Invalid("an H.264 parameter set over 64 KiB".into());
        let sps_len = u16::try_from(self.sps.len()).map_err(too_long)?;
        let pps_len = u16::try_from(self.pps.len()).map_err(too_long)?;
        let mut record = vec![
            1, // configurationVersion
            self.sps[1],
            self.sps[2],
            self.sps[3],
            0xfc | (LENGTH_SIZE as u8 - 1),
            0xe0 | 1, // one SPS
        ];
        record.extend_from_slice(&sps_len.to_be_bytes());
        record.extend_from_slice(&self.sps);
        record.push(1); // one PPS
        record.extend_from_slice(&pps_len.to_be_bytes());
        record.extend_from_slice(&self.pps);
        if sps.high_profile {
            record.push(0xfc | sps.chroma_format_idc);
            record.push(0xf8 | sps.bit_depth_luma_minus8);
            record.push(0xf8 | sps.bit_depth_chroma_minus8);
            record.push(0); // no SPS extensions
        }
        Ok(record)
    }
}

/// The fields of a sequence parameter set this crate uses.
struct Sps {
    width: u16,
    height: u16,
    high_profile: bool,
    chroma_format_idc: u8,
    bit_depth_luma_minus8: u8,
    bit_depth_chroma_minus8: u8,
}

/// Exp-Golomb reader over an RBSP (emulation prevention bytes already removed).
struct Bits {
    data: Vec<u8>,
    pos: usize,
}

impl Bits {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |acc, _| Some((acc << 1) | self.bit()?))
    }

    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }

    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Drops the 0x03 of every 00 00 03 (§7.4.1).
fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

impl Sps {
    /// `nal` includes its one-byte NAL header. `None` for anything malformed.
    fn parse(nal: &[u8]) -> Option<Sps> {
        if nal_type(nal) != NAL_SPS || nal.len() < 4 {
            return None;
        }
        let mut r = Bits {
            data: rbsp(&nal[1..]),
            pos: 0,
        };
        let profile_idc = r.bits(8)?;
        r.bits(16)?; // constraint flags, level_idc
        r.ue()?; // seq_parameter_set_id
        let high_profile = matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        );
        let (mut chroma_format_idc, mut separate_colour_plane) = (1, false);
        let (mut depth_luma, mut depth_chroma) = (0, 0);
        if high_profile {
            chroma_format_idc = r.ue()?;
            if chroma_format_idc > 3 {
                return None;
            }
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()? == 1;
            }
            depth_luma = r.ue()?;
            depth_chroma = r.ue()?;
            r.bit()?; // qpprime_y_zero_transform_bypass_flag
            if r.bit()? == 1 {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? == 1 {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        r.ue()?; // log2_max_frame_num_minus4
        match r.ue()? {
            0 => {
                r.ue()?; // log2_max_pic_order_cnt_lsb_minus4
            }
            1 => {
                r.bit()?;
                r.se()?;
                r.se()?;
                for _ in 0..r.ue()? {
                    r.se()?;
                }
            }
            _ => {}
        }
        r.ue()?; // max_num_ref_frames
        r.bit()?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = u64::from(r.ue()?) + 1;
        let height_map_units = u64::from(r.ue()?) + 1;
        let frame_mbs_only = u64::from(r.bit()?);
        if frame_mbs_only == 0 {
            r.bit()?; // mb_adaptive_frame_field_flag
        }
        r.bit()?; // direct_8x8_inference_flag
        let (mut left, mut right, mut top, mut bottom) = (0, 0, 0, 0);
        if r.bit()? == 1 {
            left = u64::from(r.ue()?);
            right = u64::from(r.ue()?);
            top = u64::from(r.ue()?);
            bottom = u64::from(r.ue()?);
        }
        // Cropping is counted in chroma samples (Table 6-1, §7.4.2.1.1).
        let chroma = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (crop_x, crop_y) = match chroma {
            1 => (2, 2 * (2 - frame_mbs_only)),
            2 => (2, 2 - frame_mbs_only),
            _ => (1, 2 - frame_mbs_only),
        };
        let width = (width_mbs * 16).checked_sub(crop_x * (left + right))?;
        let height =
            (height_map_units * 16 * (2 - frame_mbs_only)).checked_sub(crop_y * (top + bottom))?;
        Some(Sps {
            width: u16::try_from(width).ok().filter(|w| *w > 0)?,
            height: u16::try_from(height).ok().filter(|h| *h > 0)?,
            high_profile,
            chroma_format_idc: u8::try_from(chroma_format_idc).ok()?,
            bit_depth_luma_minus8: u8::try_from(depth_luma).ok().filter(|d| *d <= 7)?,
            bit_depth_chroma_minus8: u8::try_from(depth_chroma).ok().filter(|d| *d <= 7)?,
        })
    }
}

fn skip_scaling_list(r: &mut Bits, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + r.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Constrained Baseline 320x240 as x264 writes it (profile 66, level 1.3).
    const SPS_320X240: [u8; 24] = [
        0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
        0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80,
    ];
    /// High profile 1280x720 (x264), with the fields high profiles add.
    const SPS_1280X720: [u8; 26] = [
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03,
        0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
    ];

    #[test]
    fn annex_b_splits_on_three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0,
        ];
        let nals: Vec<&[u8]> = nal_units(&au).collect();
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 0]]);
        let avcc = to_length_prefixed(&au).expect("three NAL units");
        assert_eq!(&avcc[..7], &[0, 0, 0, 3, 0x67, 1, 2]);
        assert!(to_length_prefixed(&[1, 2, 3]).is_err(), "not Annex-B");
        assert_eq!(parse(&[0x65, 1]), None);
    }

    #[test]
    fn sps_gives_the_picture_size() {
        let sps = Sps::parse(&SPS_320X240).expect("a valid SPS");
        assert_eq!((sps.width, sps.height), (320, 240));
        let mut au = vec![0, 0, 0, 1];
        au.extend_from_slice(&SPS_320X240);
        au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80, 0, 0, 1, 0x65, 0x88]);
        assert_eq!(
            parse(&au),
            Some(H264Header::Key {
                size: Some((320, 240))
            })
        );
        let ps = ParameterSets::from_access_unit(&au).expect("SPS and PPS");
        let record = ps.decoder_configuration().expect("a record");
        assert_eq!(&record[..6], &[1, 0x42, 0xc0, 0x0d, 0xff, 0xe1]);
        assert_eq!(record.len(), 6 + 2 + 24 + 1 + 2 + 4);

        let high = Sps::parse(&SPS_1280X720).expect("a valid High SPS");
        assert_eq!((high.width, high.height), (1280, 720));
        assert!(high.high_profile);
        assert_eq!(high.chroma_format_idc, 1);
        let ps = ParameterSets {
            sps: SPS_1280X720.to_vec(),
            pps: vec![0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0],
        };
        let record = ps.decoder_configuration().expect("a record");
        assert_eq!(&record[record.len() - 4..], &[0xfd, 0xf8, 0xf8, 0]);
    }

    #[test]
    fn emulation_prevention_bytes_are_removed() {
        assert_eq!(rbsp(&[0, 0, 3, 1, 0, 0, 3, 0]), [0, 0, 1, 0, 0, 0]);
    }
}
