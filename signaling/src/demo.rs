//! `concord demo`: a dispute, a live session with the lobby off, and one link per person.

use serde::Serialize;

use crate::api::auth::SIGN_IN_LINK_PURPOSE;
use crate::secrets::{new_id, new_token, now_ms, token_hash};
use crate::state::AppState;
use crate::store::{
    AccountRole, DisputeLevel, Expert, InviteeRole, NewDispute, NewInvitation, Party,
};

/// Demo links last a day.
const DEMO_LINK_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone, Serialize)]
pub struct DemoInvitation {
    pub role: String,
    pub name: String,
    pub url: String,
}

pub async fn seed(state: &AppState) -> anyhow::Result<Vec<DemoInvitation>> {
    let store = &state.store;
    let now = now_ms();
    let mediator_name = "调解员 陈静";
    let mediator = match store.credentials("demo-mediator").await? {
        Some(existing) => existing.user,
        None => {
            store
                .create_user(
                    &new_id(),
                    "demo-mediator",
                    mediator_name,
                    AccountRole::Mediator,
                    None,
                    now,
                )
                .await?
        }
    };
    seed_expert_roster(state).await?;
    let parties = [("张建国", "13800000001"), ("李秀兰", "13800000002")];
    let dispute = NewDispute {
        case_number: format!("DEMO-{}", &new_id()[..6]),
        title: "宅基地边界纠纷（演示）".to_owned(),
        category: "land".to_owned(),
        level: DisputeLevel::Township,
        description: "两户相邻村民对宅基地边界有争议，县土地专家远程指导。".to_owned(),
        parties: parties
            .iter()
            .map(|(name, phone)| Party {
                name: (*name).to_owned(),
                phone: (*phone).to_owned(),
            })
            .collect(),
        mediator_id: mediator.id.clone(),
    };
    let dispute = store.create_dispute(&new_id(), &dispute, now).await?;
    let session = store
        .create_session(&new_id(), &dispute.id, false, Some(now), now)
        .await?;
    store.mark_session_live(&session.id, now).await?;

    let sign_in = new_token();
    store
        .create_one_time_token(
            &token_hash(&sign_in),
            SIGN_IN_LINK_PURPOSE,
            Some(&mediator.id),
            now,
            now + DEMO_LINK_MS,
        )
        .await?;
    let base = &state.public_url;
    let mut links = vec![DemoInvitation {
        role: "mediator".to_owned(),
        name: mediator.display_name.clone(),
        url: format!(
            "{base}/login/{sign_in}?next=/%23/sessions/{}/room",
            session.id
        ),
    }];

    let invitees = [
        (InviteeRole::Party, parties[0].0, parties[0].1),
        (InviteeRole::Party, parties[1].0, parties[1].1),
        (InviteeRole::Expert, "县自然资源局 王工", ""),
    ];
    for (role, name, phone) in invitees {
        let token = new_token();
        let invitation = NewInvitation {
            session_id: session.id.clone(),
            token_hash: token_hash(&token),
            role,
            name: name.to_owned(),
            phone: phone.to_owned(),
            expires_at: now + DEMO_LINK_MS,
        };
        store.create_invitation(&new_id(), &invitation, now).await?;
        links.push(DemoInvitation {
            role: role.as_str().to_owned(),
            name: name.to_owned(),
            url: format!("{base}/j/{token}"),
        });
    }
    Ok(links)
}

/// A small expert roster the mediator can invite from the room (once per data directory).
async fn seed_expert_roster(state: &AppState) -> anyhow::Result<()> {
    if !state.store.experts(None).await?.is_empty() {
        return Ok(());
    }
    let roster = [
        ("王工", "土地", "县自然资源局", "13900000001"),
        ("刘律师", "婚姻家庭", "县法律援助中心", "13900000002"),
        ("赵主任", "劳动", "县劳动人事争议仲裁院", "13900000003"),
        ("孙医生", "医疗", "县医学会", "13900000004"),
        ("周经理", "物业", "县住建局物业科", "13900000005"),
    ];
    for (name, specialty, center, phone) in roster {
        let expert = Expert {
            id: new_id(),
            name: name.to_owned(),
            specialty: specialty.to_owned(),
            center: center.to_owned(),
            phone: phone.to_owned(),
            created_at: now_ms(),
        };
        state.store.create_expert(&expert).await?;
    }
    Ok(())
}
