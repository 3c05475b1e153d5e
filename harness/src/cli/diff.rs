//! `kasim diff BASE NEW` and `kasim diff RUN --between A B`: read the
//! documents, compare (see [`crate::diff`]), print, and exit 1 on a
//! regression (`--fail-on any`: also on an inconclusive figure).

use super::files::{print_out, write_atomic};
use super::{CliError, DiffArgs, FailOn, Format};
use crate::diff::{self, Document, Tolerance};
use std::path::Path;
use std::process::ExitCode;

fn read(path: &Path) -> Result<(String, Document), CliError> {
    let text = crate::input::read_text(path, crate::input::MAX_PARTIAL_BYTES)
        .map_err(|source| CliError::Read { path: path.to_path_buf(), source })?;
    let doc = Document::parse(path, &text)?;
    Ok((text, doc))
}

/// `kasim diff`.
pub fn diff(args: &DiffArgs) -> Result<ExitCode, CliError> {
    let tolerance = Tolerance::parse(&args.tolerance).map_err(|message| CliError::BadFlag { flag: "tolerance", message })?;
    let report = match (&args.between[..], &args.files[..]) {
        ([a, b], [run]) => {
            if args.accept {
                return Err(CliError::BadFlag {
                    flag: "accept",
                    message: "rewrites a baseline with a new run: give BASE NEW, not --between".into(),
                });
            }
            diff::between(&read(run)?.1, a, b, tolerance)?
        }
        ([_, _], files) => {
            return Err(CliError::BadFlag {
                flag: "between",
                message: format!("compares two strategies of one run; allowed: one file, got {}", files.len()),
            })
        }
        (_, [base, new]) => {
            let (_, base_doc) = read(base)?;
            let (new_text, new_doc) = read(new)?;
            let report = diff::documents(&base_doc, &new_doc, tolerance, args.allow_model_change)?;
            if args.accept {
                emit(args, &report)?;
                write_atomic(base, &new_text)?;
                eprintln!("accepted: {} now holds {}", base.display(), new.display());
                return Ok(ExitCode::SUCCESS);
            }
            report
        }
        (_, files) => {
            return Err(CliError::BadFlag {
                flag: "files",
                message: format!("allowed: BASE.json NEW.json, or RUN.json --between A B; got {} file(s)", files.len()),
            })
        }
    };
    emit(args, &report)?;
    let fail = report.regressions > 0 || (args.fail_on == FailOn::Any && report.inconclusive > 0);
    Ok(if fail { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn emit(args: &DiffArgs, report: &diff::DiffReport) -> Result<(), CliError> {
    let text = match args.format {
        Format::Table => diff::render::table(report),
        Format::Markdown => diff::render::markdown(report),
        Format::Json => diff::render::json(report),
    };
    if let Some(path) = &args.junit {
        write_atomic(path, &diff::render::junit(report, args.fail_on == FailOn::Any))?;
        eprintln!("wrote {}", path.display());
    }
    print_out(&text)
}
