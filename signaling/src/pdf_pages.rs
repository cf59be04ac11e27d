//! A shared PDF's pages as pictures. A cheap Android phone's browser has no PDF viewer: a land
//! certificate sent as a PDF would show nothing there. So each page is drawn once, when the
//! PDF is shared, by poppler's `pdftoppm` (Debian's poppler-utils), and the room shows the
//! pictures. The PDF itself stays the evidence; the pictures are a way to read it.
//!
//! A PDF is someone else's program: the drawing runs at low priority, with a time limit, a
//! bounded number of pages and a bounded picture size.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Pages drawn at most: a certificate or a contract is a few pages; the rest is in the PDF.
pub const MAX_PAGES: u32 = 30;
/// The longer side of each page's picture, in pixels: enough to zoom into a certificate's seal.
const PAGE_PIXELS: u32 = 1600;
/// The whole drawing stops after this long.
const TIME_LIMIT: Duration = Duration::from_secs(60);

/// Why a PDF's pages could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// `pdftoppm` is not installed: the PDF is kept and offered as it is.
    #[error("pdftoppm is not installed (Debian's poppler-utils)")]
    NoRenderer,
    /// The file is not a PDF poppler can read (damaged, or locked with a password).
    #[error("the PDF could not be read: {0}")]
    Unreadable(String),
    #[error("drawing the PDF's pages took longer than {} s", TIME_LIMIT.as_secs())]
    TooSlow,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Where page `page` (from 1) of the PDF at `pdf` is kept.
pub fn page_path(pdf: &Path, page: u32) -> PathBuf {
    pages_dir(pdf).join(format!("{page}.png"))
}

fn pages_dir(pdf: &Path) -> PathBuf {
    pdf.with_extension("pages")
}

/// Draws the pages of the PDF at `pdf` next to it; how many.
pub async fn render(pdf: &Path) -> Result<u32, PdfError> {
    let dir = pages_dir(pdf);
    crate::private_files::private_dir(&dir)?;
    let prefix = dir.join("page");
    let mut command = Command::new("nice");
    command
        .args(["-n", "19", "pdftoppm", "-png", "-l"])
        .arg(MAX_PAGES.to_string())
        .arg("-scale-to")
        .arg(PAGE_PIXELS.to_string())
        .arg(pdf)
        .arg(&prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(PdfError::NoRenderer),
        Err(e) => return Err(e.into()),
    };
    let output = match tokio::time::timeout(TIME_LIMIT, child.wait_with_output()).await {
        Ok(output) => output?,
        Err(_) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Err(PdfError::TooSlow);
        }
    };
    if !output.status.success() {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        // `nice` answers 127 when the program is missing.
        if output.status.code() == Some(127) {
            return Err(PdfError::NoRenderer);
        }
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said
            .lines()
            .last()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        return Err(PdfError::Unreadable(said));
    }
    name_pages(&dir).await
}

/// pdftoppm numbers its files with as many digits as the last page needs (`page-01.png`):
/// each is renamed to its plain page number.
async fn name_pages(dir: &Path) -> Result<u32, PdfError> {
    let mut entries = tokio::fs::read_dir(dir).await?;
    let mut pages = 0;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name();
        let Some(number) = name
            .to_str()
            .and_then(|n| n.strip_prefix("page-"))
            .and_then(|n| n.strip_suffix(".png"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        tokio::fs::rename(entry.path(), dir.join(format!("{number}.png"))).await?;
        pages = pages.max(number);
    }
    if pages == 0 {
        return Err(PdfError::Unreadable("it has no pages".into()));
    }
    Ok(pages)
}
